package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"strings"

	"github.com/drover-dev/drover/jobs"
	"github.com/drover-dev/drover/source"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclparse"
)

// sourceConfig is one source: a source block of a config file (--config),
// whose every attribute is the flag of the same name for that source only,
// or the one source the flags make, which has no name.
type sourceConfig struct {
	name      string
	repo, ref string
	// githubRepo and gitlabProject name the source's repository on its
	// forge, for --status and --comment; "" takes it from repo.
	githubRepo, gitlabProject string
	// dir is a local directory read instead of git (--dir, flags only).
	dir      string
	auth     source.Auth
	selector jobs.Selector
	vars     jobs.Variables
	// namespace is given to jobs whose file sets none; "" is
	// NOMAD_NAMESPACE's.
	namespace string
	prune     bool
}

// sourceFlagNames are the flags a config file's sources replace: setting
// one together with --config is an error, not a silent choice.
var sourceFlagNames = []string{
	"repo", "ref", "dir", "path", "include", "exclude", "var-file", "var",
	"git-username", "git-token", "git-token-file", "ssh-key", "ssh-key-passphrase", "ssh-known-hosts", "ssh-insecure-skip-host-key",
}

// fileSchema is the config file: source blocks, nothing else.
type fileSchema struct {
	Sources []sourceBlock `hcl:"source,block"`
}

type sourceBlock struct {
	Name     string    `hcl:"name,label"`
	DefRange hcl.Range `hcl:",def_range"`

	Repo      string            `hcl:"repo"`
	Ref       string            `hcl:"ref,optional"`
	Path      []string          `hcl:"path,optional"`
	Include   []string          `hcl:"include,optional"`
	Exclude   []string          `hcl:"exclude,optional"`
	VarFile   []string          `hcl:"var_file,optional"`
	Var       map[string]string `hcl:"var,optional"`
	Namespace string            `hcl:"namespace,optional"`
	Prune     *bool             `hcl:"prune,optional"`

	// The source's repository on its forge, for --status and --comment.
	GitHubRepo    string `hcl:"github_repo,optional"`
	GitLabProject string `hcl:"gitlab_project,optional"`

	GitUsername            string `hcl:"git_username,optional"`
	GitTokenEnv            string `hcl:"git_token_env,optional"`
	GitTokenFile           string `hcl:"git_token_file,optional"`
	SSHKey                 string `hcl:"ssh_key,optional"`
	SSHKeyPassphraseEnv    string `hcl:"ssh_key_passphrase_env,optional"`
	SSHKeyPassphraseFile   string `hcl:"ssh_key_passphrase_file,optional"`
	SSHKnownHosts          string `hcl:"ssh_known_hosts,optional"`
	SSHInsecureSkipHostKey bool   `hcl:"ssh_insecure_skip_host_key,optional"`

	// The secrets' own flags, only to refuse them with a clear error:
	// a config file is read by more people than a secret should be.
	GitToken         *hcl.Attribute `hcl:"git_token,optional"`
	SSHKeyPassphrase *hcl.Attribute `hcl:"ssh_key_passphrase,optional"`

	PathRange    hcl.Range `hcl:"path,attr_range"`
	IncludeRange hcl.Range `hcl:"include,attr_range"`
	ExcludeRange hcl.Range `hcl:"exclude,attr_range"`
	TokenRange   hcl.Range `hcl:"git_token_env,attr_range"`
	TokenFRange  hcl.Range `hcl:"git_token_file,attr_range"`
	PassRange    hcl.Range `hcl:"ssh_key_passphrase_env,attr_range"`
	PassFRange   hcl.Range `hcl:"ssh_key_passphrase_file,attr_range"`
}

// sourceName is what a source may be called: it is written into job meta,
// log fields and metric labels.
var sourceName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// loadSources reads a config file. Errors name the file, the line and the
// attribute; a secret is read from the environment or a file named in it,
// never from the file itself. prune is --prune, the default of every
// source.
func loadSources(path string, prune bool, getenv func(string) string) ([]sourceConfig, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--config: %w", err)
	}
	p := hclparse.NewParser()
	file, diags := p.ParseHCL(src, path)
	if diags.HasErrors() {
		return nil, diagError(diags)
	}
	var schema fileSchema
	if diags := gohcl.DecodeBody(file.Body, nil, &schema); diags.HasErrors() {
		return nil, diagError(diags)
	}
	if len(schema.Sources) == 0 {
		return nil, fmt.Errorf("%s: no source block: a config file lists at least one source", path)
	}
	seen := map[string]hcl.Range{}
	var out []sourceConfig
	for _, b := range schema.Sources {
		if first, ok := seen[b.Name]; ok {
			return nil, fmt.Errorf("%s: source %q is declared twice (first at line %d)", at(b.DefRange), b.Name, first.Start.Line)
		}
		seen[b.Name] = b.DefRange
		s, err := b.resolve(prune, getenv)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func (b *sourceBlock) resolve(prune bool, getenv func(string) string) (sourceConfig, error) {
	fail := func(r hcl.Range, format string, a ...any) (sourceConfig, error) {
		return sourceConfig{}, fmt.Errorf("%s: source %q: %s", at(r), b.Name, fmt.Sprintf(format, a...))
	}
	switch {
	case !sourceName.MatchString(b.Name):
		return fail(b.DefRange, "a source name is 1 to 63 lowercase letters, digits, - or _, starting with a letter or digit")
	case b.GitToken != nil:
		return fail(b.GitToken.Range, "git_token: no secret in the config file; name where it is with git_token_env or git_token_file")
	case b.SSHKeyPassphrase != nil:
		return fail(b.SSHKeyPassphrase.Range, "ssh_key_passphrase: no secret in the config file; name where it is with ssh_key_passphrase_env or ssh_key_passphrase_file")
	case strings.TrimSpace(b.Repo) == "":
		return fail(b.DefRange, "repo must not be empty")
	}
	s := sourceConfig{
		name: b.Name, repo: b.Repo, ref: b.Ref, namespace: b.Namespace, prune: prune,
		githubRepo: b.GitHubRepo, gitlabProject: b.GitLabProject,
		selector: jobs.Selector{Dirs: b.Path, Include: b.Include, Exclude: b.Exclude},
		vars:     jobs.Variables{Files: b.VarFile, Flags: b.Var},
		auth: source.Auth{
			Username: b.GitUsername, SSHKeyPath: b.SSHKey, SSHKnownHostsPath: b.SSHKnownHosts,
			InsecureSkipHostKey: b.SSHInsecureSkipHostKey,
		},
	}
	if b.Prune != nil {
		s.prune = *b.Prune
	}
	if err := s.selector.Validate(); err != nil {
		var se *jobs.SelectorError
		if !errors.As(err, &se) {
			return fail(b.DefRange, "%v", err)
		}
		r := map[string]hcl.Range{"path": b.PathRange, "include": b.IncludeRange, "exclude": b.ExcludeRange}[se.Setting]
		if r.Empty() {
			// An invalid default include is no attribute's.
			r = b.DefRange
		}
		if se.Setting == "path" {
			return fail(r, "path %q: %v", se.Value, se.Err)
		}
		return fail(r, "%v", err)
	}
	var err error
	var r hcl.Range
	if b.GitTokenFile != "" && b.GitTokenEnv == "" {
		// Read again whenever the file changes, as --git-token-file.
		if s.auth.TokenFrom, err = gitTokenFile(b.GitTokenFile); err != nil {
			return fail(b.TokenFRange, "git_token_file: %v", err)
		}
	} else if s.auth.Token, r, err = secret("git_token", b.GitTokenEnv, b.GitTokenFile, b.TokenRange, b.TokenFRange, getenv); err != nil {
		return fail(r, "%v", err)
	}
	if s.auth.SSHKeyPassphrase, r, err = secret("ssh_key_passphrase", b.SSHKeyPassphraseEnv, b.SSHKeyPassphraseFile, b.PassRange, b.PassFRange, getenv); err != nil {
		return fail(r, "%v", err)
	}
	return s, nil
}

// secret reads a credential from the environment variable or the file
// named. Errors name the attribute and its line, not what it says: a
// token pasted where its variable's name belongs must not be printed.
func secret(attr, env, file string, envRange, fileRange hcl.Range, getenv func(string) string) (string, hcl.Range, error) {
	switch {
	case env != "" && file != "":
		return "", fileRange, fmt.Errorf("%s_env and %s_file are exclusive", attr, attr)
	case env != "":
		v := getenv(env)
		if v == "" {
			return "", envRange, fmt.Errorf("%s_env: the environment variable it names is not set", attr)
		}
		return v, envRange, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return "", fileRange, fmt.Errorf("%s_file: cannot read the file it names: %w", attr, err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", fileRange, fmt.Errorf("%s_file: the file it names is empty", attr)
		}
		return v, fileRange, nil
	}
	return "", hcl.Range{}, nil
}

// at is a position as people read it: file:line.
func at(r hcl.Range) string {
	return fmt.Sprintf("%s:%d", r.Filename, r.Start.Line)
}

// diagError turns HCL diagnostics into one error, each as
// file:line: summary; detail.
func diagError(diags hcl.Diagnostics) error {
	var lines []string
	for _, hd := range diags {
		if hd.Severity != hcl.DiagError {
			continue
		}
		msg := hd.Summary
		if hd.Detail != "" {
			msg += ": " + hd.Detail
		}
		if hd.Subject != nil {
			msg = at(*hd.Subject) + ": " + msg
		}
		lines = append(lines, msg)
	}
	return fmt.Errorf("%s", strings.Join(lines, "\n"))
}
