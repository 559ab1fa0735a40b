package source

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
)

// transportKind is how drover talks to the remote, which decides the auth it needs.
type transportKind int

const (
	kindHTTP transportKind = iota // http:// and https://
	kindSSH                       // ssh:// and scp-like user@host:path
	kindFile                      // file:// and local paths
	kindGit                       // git:// (unauthenticated)
)

// endpoint is the parsed remote URL.
type endpoint struct {
	clean    string // the URL without its userinfo password: stored in the clone, logged, hashed
	password string // the userinfo password of an http(s) URL, if any
	user     string // the userinfo user, if any
	kind     transportKind
	hostPort string // host:port for SSH known_hosts lookups
}

// parseEndpoint classifies raw the way go-git does and strips its password.
// Local paths are made absolute so the clone's identity does not depend on
// the working directory.
func parseEndpoint(raw string) (endpoint, error) {
	if raw == "" {
		return endpoint{}, errors.New("no git URL given")
	}
	ep, err := transport.NewEndpoint(raw)
	if err != nil {
		// url.Parse errors quote the whole input, password included.
		return endpoint{}, errors.New("git URL is not a valid URL, scp-like address or path")
	}
	e := endpoint{clean: raw, user: ep.User, password: ep.Password}
	switch ep.Protocol {
	case "http", "https":
		e.kind = kindHTTP
	case "ssh":
		e.kind = kindSSH
		port := ep.Port
		if port == 0 {
			port = 22
		}
		e.hostPort = fmt.Sprintf("%s:%d", ep.Host, port)
	case "file":
		e.kind = kindFile
	case "git":
		e.kind = kindGit
	default:
		return endpoint{}, fmt.Errorf("git URL scheme %q is not supported (use https, http, ssh, git, file or a local path)", ep.Protocol)
	}

	if strings.Contains(raw, "://") {
		u, err := url.Parse(raw)
		if err != nil {
			return endpoint{}, errors.New("git URL is not a valid URL")
		}
		if _, ok := u.User.Password(); ok {
			u.User = url.User(u.User.Username())
		}
		e.clean = u.String()
	} else if e.kind == kindFile {
		abs, err := filepath.Abs(raw)
		if err != nil {
			return endpoint{}, fmt.Errorf("git URL %s: %w", raw, err)
		}
		e.clean = abs
	}
	if e.password != "" && e.kind != kindHTTP {
		return endpoint{}, fmt.Errorf("git URL %s carries a password; only http(s) URLs may", e.clean)
	}
	return e, nil
}
