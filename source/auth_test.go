package source

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestOpen_SSH(t *testing.T) {
	o := newOrigin(t, "main")
	head := o.commit(map[string]string{"a": "1"})
	const passphrase = "key-passphrase"
	keyPath, pub := sshKey(t, t.TempDir(), passphrase)
	srv := startSSHGitServer(t, pub)
	_, otherHostKey := sshKey(t, t.TempDir(), "")

	tests := []struct {
		name    string
		auth    Auth
		wantErr string // empty: the clone must succeed
		warns   int
	}{
		{"known host", Auth{SSHKnownHostsPath: knownHostsFile(t, srv.addr, srv.hostKey)}, "", 0},
		{"host key mismatch", Auth{SSHKnownHostsPath: knownHostsFile(t, srv.addr, otherHostKey)}, "key mismatch", 0},
		{"host not in known_hosts", Auth{SSHKnownHostsPath: knownHostsFile(t, "127.0.0.2:22", srv.hostKey)}, "key is unknown", 0},
		{"host key check skipped", Auth{InsecureSkipHostKey: true}, "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			tt.auth.SSHKeyPath = keyPath
			tt.auth.SSHKeyPassphrase = passphrase
			opts := Options{URL: "ssh://git@" + srv.addr + o.dir, Auth: tt.auth, DataDir: t.TempDir(), Logger: zerolog.New(&logs)}
			// A deadline takes the SSH connect-timeout path.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			r, err := Open(ctx, opts)
			if err == nil && tt.wantErr != "" {
				// Open only validates; the first Fetch connects.
				_, err = r.Fetch(ctx)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Open = %v, want an error containing %q", err, tt.wantErr)
				}
			} else {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				for range 2 {
					if got := mustFetch(t, r).Revision(); got != head {
						t.Fatalf("Revision() = %s, want %s", got, head)
					}
				}
			}
			if got := strings.Count(logs.String(), `"event":"git.insecure_host_key"`); got != tt.warns {
				t.Errorf("logged %d insecure host key warnings, want %d; logs:\n%s", got, tt.warns, logs.String())
			}
			if strings.Contains(logs.String(), passphrase) {
				t.Errorf("logs leak the key passphrase:\n%s", logs.String())
			}
		})
	}
}

func TestOpen_RejectsBadAuthOptions(t *testing.T) {
	dir := t.TempDir()
	plainKey, _ := sshKey(t, t.TempDir(), "")
	encryptedKey, _ := sshKey(t, t.TempDir(), "right-passphrase")
	knownHosts := filepath.Join(dir, "known_hosts")
	writeTree(t, dir, map[string]string{"known_hosts": "", "not-a-key": "garbage"})

	tests := []struct {
		name string
		url  string
		auth Auth
		want []string
	}{
		{"ssh URL without known_hosts", "ssh://git@127.0.0.1:2222/repo.git", Auth{SSHKeyPath: plainKey}, []string{"--ssh-known-hosts"}},
		{"scp-like URL without known_hosts", "git@github.com:org/repo.git", Auth{SSHKeyPath: plainKey}, []string{"--ssh-known-hosts"}},
		{"known_hosts file missing", "git@github.com:org/repo.git", Auth{SSHKeyPath: plainKey, SSHKnownHostsPath: filepath.Join(dir, "nope")}, []string{"--ssh-known-hosts", "nope"}},
		{"known_hosts and skip both set", "git@github.com:org/repo.git", Auth{SSHKeyPath: plainKey, SSHKnownHostsPath: knownHosts, InsecureSkipHostKey: true}, []string{"--ssh-insecure-skip-host-key", "choose one"}},
		{"no key", "git@github.com:org/repo.git", Auth{SSHKnownHostsPath: knownHosts}, []string{"--ssh-key"}},
		{"key file missing", "git@github.com:org/repo.git", Auth{SSHKeyPath: filepath.Join(dir, "missing-key"), SSHKnownHostsPath: knownHosts}, []string{"missing-key"}},
		{"key file not a key", "git@github.com:org/repo.git", Auth{SSHKeyPath: filepath.Join(dir, "not-a-key"), SSHKnownHostsPath: knownHosts}, []string{"not-a-key"}},
		{"wrong passphrase", "git@github.com:org/repo.git", Auth{SSHKeyPath: encryptedKey, SSHKeyPassphrase: "wrong-passphrase", SSHKnownHostsPath: knownHosts}, []string{"load SSH key"}},
		{"token on ssh URL", "git@github.com:org/repo.git", Auth{Token: "tok", SSHKeyPath: plainKey, SSHKnownHostsPath: knownHosts}, []string{"SSH URL"}},
		{"password in ssh URL", "ssh://git:pw@github.com/org/repo.git", Auth{SSHKeyPath: plainKey, SSHKnownHostsPath: knownHosts}, []string{"only http(s)"}},
		{"ssh key on https URL", "https://example.com/repo.git", Auth{SSHKeyPath: plainKey}, []string{"not an SSH URL"}},
		{"token and URL password", "https://u:pw@example.com/repo.git", Auth{Token: "tok"}, []string{"use one"}},
		{"username without token", "https://example.com/repo.git", Auth{Username: "bot"}, []string{"without --git-token"}},
		{"token on local path", dir, Auth{Token: "tok"}, []string{"not an http(s) URL"}},
		{"unsupported scheme", "ftp://example.com/repo.git", Auth{}, []string{`"ftp"`}},
		{"empty URL", "", Auth{}, []string{"no git URL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(context.Background(), Options{URL: tt.url, Auth: tt.auth, DataDir: t.TempDir()})
			if err == nil {
				t.Fatal("Open succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			for _, secret := range []string{tt.auth.Token, tt.auth.SSHKeyPassphrase, "pw@"} {
				if secret != "" && strings.Contains(err.Error(), secret) {
					t.Errorf("error %q leaks %q", err, secret)
				}
			}
		})
	}

	if _, err := Open(context.Background(), Options{URL: dir}); err == nil || !strings.Contains(err.Error(), "data directory") {
		t.Errorf("Open without DataDir = %v, want an error about the data directory", err)
	}
}
