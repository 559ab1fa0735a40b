package main

import (
	"github.com/drover-dev/drover/consul"
	"github.com/drover-dev/drover/internal/secretfile"
	"github.com/drover-dev/drover/leader"
	"github.com/drover-dev/drover/nomad"
)

// clusterFlags are the Nomad and Consul settings that are not the
// standard environment variables: token files, read again when they
// change.
func (c *config) clusterFlags(f *flagSet) {
	g := f.group("Nomad and Consul")
	f.String(g, &c.nomadTokenFile, "nomad-token-file", "", "File holding the Nomad token, instead of NOMAD_TOKEN: read again whenever it changes, so a\nrotated token (e.g. the task's workload identity, ${NOMAD_SECRETS_DIR}/nomad_token) is\nused without a restart. Never logged.")
	f.String(g, &c.consulTokenFile, "consul-token-file", "", "File holding the Consul token, instead of CONSUL_HTTP_TOKEN: read again whenever it\nchanges. Never logged.")
}

// nomadClient is the Nomad client every command uses.
func (c *config) nomadClient(opts ...nomad.Option) (*nomad.Client, error) {
	if c.nomadTokenFile != "" {
		opts = append(opts, nomad.WithTokenFile(c.nomadTokenFile))
	}
	return nomad.New(opts...)
}

// consulClient is the Consul client every command uses. Every call has
// its own deadline (--consul-timeout); the client's own is a backstop
// above the longest blocking query drover makes (the leader lock's
// monitor).
func (c *config) consulClient() (*consul.Client, error) {
	return consul.New(consul.Options{Timeout: leader.ClientTimeout, TokenFile: c.consulTokenFile})
}

// gitTokenFile is the HTTPS git token held in the file at path
// (--git-token-file, a source's git_token_file), read again whenever the
// file changes so a rotated token is used at the next request.
func gitTokenFile(path string) (func() (string, error), error) {
	f, err := secretfile.Open(path)
	if err != nil {
		return nil, err
	}
	return f.Get, nil
}
