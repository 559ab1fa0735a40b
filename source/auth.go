package source

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/drover-dev/drover/events"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
)

// Auth holds credentials. Secrets in it never appear in errors or logs.
type Auth struct {
	// Username is the HTTPS basic-auth user; "git" when Token is set and
	// Username is empty. For SSH the user comes from the URL.
	Username string
	// Token is the HTTPS password or access token.
	Token string
	// TokenFrom, instead of Token, returns the current HTTPS token; it is
	// called for every request, so a token rotated in its file (a
	// secretfile.File's Get) is used without a restart.
	TokenFrom func() (string, error)

	// SSHKeyPath is the private key file for ssh:// and scp-like URLs.
	SSHKeyPath string
	// SSHKeyPassphrase decrypts SSHKeyPath when it is encrypted.
	SSHKeyPassphrase string
	// SSHKnownHostsPath is the known_hosts file the server's host key is
	// checked against. Required for SSH unless InsecureSkipHostKey is set.
	SSHKnownHostsPath string
	// InsecureSkipHostKey accepts any SSH host key. Open logs a warning.
	InsecureSkipHostKey bool
}

// buildAuth checks that the credentials fit the URL's transport and turns
// them into a go-git auth method; nil means anonymous.
func buildAuth(ep endpoint, a Auth, tok *rotatingToken, em *events.Emitter) (transport.AuthMethod, error) {
	if ep.kind != kindSSH && a.SSHKeyPath != "" {
		return nil, errors.New("--ssh-key is set but the git URL is not an SSH URL")
	}
	switch ep.kind {
	case kindHTTP:
		return httpAuth(ep, a, tok)
	case kindSSH:
		return sshPublicKeys(ep, a, em)
	default:
		if a.Token != "" || a.TokenFrom != nil || a.Username != "" {
			return nil, errors.New("a git username or token is set but the git URL is not an http(s) URL")
		}
		return nil, nil
	}
}

func httpAuth(ep endpoint, a Auth, tok *rotatingToken) (transport.AuthMethod, error) {
	user := a.Username
	if user == "" {
		user = "git"
	}
	switch {
	case a.Token != "" && a.TokenFrom != nil:
		return nil, errors.New("both --git-token and --git-token-file are set; use one")
	case (a.Token != "" || a.TokenFrom != nil) && ep.password != "":
		return nil, errors.New("both a git token and a password in the git URL are set; use one")
	case a.TokenFrom != nil:
		// Read once now so that an unreadable token is a start-up error,
		// not a 401 at the first fetch.
		if _, err := tok.current(); err != nil {
			return nil, fmt.Errorf("read the git token: %w", err)
		}
		return &rotatingBasicAuth{username: user, token: tok}, nil
	case a.Token != "":
		return &githttp.BasicAuth{Username: user, Password: a.Token}, nil
	case a.Username != "":
		return nil, errors.New("--git-username is set without --git-token or --git-token-file")
	case ep.password != "":
		// The clone's config holds the URL without its password, so the
		// password must travel as explicit auth.
		return &githttp.BasicAuth{Username: ep.user, Password: ep.password}, nil
	}
	return nil, nil
}

func sshPublicKeys(ep endpoint, a Auth, em *events.Emitter) (transport.AuthMethod, error) {
	if a.Token != "" || a.TokenFrom != nil || a.Username != "" {
		return nil, errors.New("a git username or token is set but the git URL is an SSH URL; put the SSH user in the URL")
	}
	if a.SSHKnownHostsPath != "" && a.InsecureSkipHostKey {
		return nil, errors.New("both --ssh-known-hosts and --ssh-insecure-skip-host-key are set; choose one")
	}
	if a.SSHKnownHostsPath == "" && !a.InsecureSkipHostKey {
		return nil, errors.New("an SSH git URL needs a known_hosts file to verify the server: set --ssh-known-hosts (or, for testing only, --ssh-insecure-skip-host-key)")
	}
	if a.SSHKeyPath == "" {
		return nil, errors.New("an SSH git URL needs a private key file: set --ssh-key")
	}
	user := ep.user
	if user == "" {
		user = "git"
	}
	keys, err := gitssh.NewPublicKeysFromFile(user, a.SSHKeyPath, a.SSHKeyPassphrase)
	if err != nil {
		return nil, fmt.Errorf("load SSH key %s: %w", a.SSHKeyPath, err)
	}

	if a.InsecureSkipHostKey {
		keys.HostKeyCallback = ssh.InsecureIgnoreHostKey()
		em.Emit(events.GitInsecureHostKey{URL: ep.clean},
			"SSH host key checking is disabled; the git server is not authenticated")
		return &sshAuth{PublicKeys: keys}, nil
	}
	if _, err := os.Stat(a.SSHKnownHostsPath); err != nil {
		return nil, fmt.Errorf("read known_hosts file (--ssh-known-hosts): %w", err)
	}
	db, err := gitssh.NewKnownHostsDb(a.SSHKnownHostsPath)
	if err != nil {
		return nil, fmt.Errorf("read known_hosts %s: %w", a.SSHKnownHostsPath, err)
	}
	keys.HostKeyCallback = hostKeyChecked(db.HostKeyCallback())
	// Offer only the key types known_hosts holds for this host, so a server
	// that prefers another type is not rejected as a key mismatch.
	keys.HostKeyAlgorithms = db.HostKeyAlgorithms(ep.hostPort)
	return &sshAuth{PublicKeys: keys}, nil
}

// sshAuth adds a connect timeout to go-git's public-key auth: go-git dials
// SSH with context.Background, so the caller's deadline would otherwise not
// bound the TCP connect. The SSH handshake that follows is still outside
// any deadline; go-git offers no hook for it. Once the session is up,
// go-git honours the context.
type sshAuth struct {
	*gitssh.PublicKeys
	timeout time.Duration
}

func (a *sshAuth) ClientConfig() (*ssh.ClientConfig, error) {
	cfg, err := a.PublicKeys.ClientConfig()
	if err != nil {
		return nil, err
	}
	cfg.Timeout = a.timeout
	return cfg, nil
}

// authFor returns the auth for one network operation under ctx.
func authFor(ctx context.Context, auth transport.AuthMethod) transport.AuthMethod {
	s, ok := auth.(*sshAuth)
	if !ok {
		return auth
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		return s
	}
	return &sshAuth{PublicKeys: s.PublicKeys, timeout: max(time.Until(deadline), time.Millisecond)}
}

// hostKeyChecked marks a refused host key with ErrHostKey: go-git does not
// keep the known_hosts error's type on its way up, and the agent must tell
// a wrong host key (fix the config) from a network blip (retry).
func hostKeyChecked(cb ssh.HostKeyCallback) ssh.HostKeyCallback {
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		if err := cb(hostname, remote, key); err != nil {
			return fmt.Errorf("%w: %w", ErrHostKey, err)
		}
		return nil
	}
}
