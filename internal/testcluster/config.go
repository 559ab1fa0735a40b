package testcluster

import (
	"fmt"
	"os"
	"path/filepath"
)

// consulPorts are the loopback ports one Consul dev agent listens on.
type consulPorts struct {
	HTTP, SerfLAN, SerfWAN, Server int
}

// nomadPorts are the loopback ports one Nomad dev agent listens on.
type nomadPorts struct {
	HTTP, RPC, Serf int
}

// consulConfig is the agent's config file. Dev mode would otherwise take the
// well-known ports (8500, 8600, 8301, 8302, 8300, 8502), so two clusters on
// one machine would collide; DNS and gRPC are not needed and are disabled
// rather than given ports. Dev mode turns on cluster peering, which cannot
// work without gRPC; turning it off spares its background routines.
func consulConfig(p consulPorts, sec security) string {
	http, https := p.HTTP, -1
	if sec.tls != nil {
		http, https = -1, p.HTTP
	}
	return fmt.Sprintf(`# Written by drover's testcluster.
disable_update_check = true
log_level            = "INFO"

ports {
  http     = %d
  https    = %d
  dns      = -1
  grpc     = -1
  grpc_tls = -1
  serf_lan = %d
  serf_wan = %d
  server   = %d
}

peering {
  enabled = false
}
%s`, http, https, p.SerfLAN, p.SerfWAN, p.Server, consulSecurityConfig(sec))
}

// security is how a cluster's agents are locked down: ACLs (default deny)
// with known management tokens, and mutual TLS on every HTTP API. The zero
// value is the open dev cluster.
type security struct {
	// nomadToken and consulToken are the management tokens; "" means ACLs
	// are off. Consul's is set in its config (initial_management), Nomad's
	// given to its bootstrap.
	nomadToken, consulToken string
	tls                     *TLSFiles
}

// consulSecurityConfig is the ACL and TLS part of Consul's config. The
// agent token is the management token so the agent can register its own
// node and Nomad's services without a policy of its own. Consul's RPC
// stays as dev mode has it: TLS is asked of the HTTP API, the surface
// drover and Nomad use.
func consulSecurityConfig(sec security) string {
	var s string
	if sec.consulToken != "" {
		s += fmt.Sprintf(`
acl {
  enabled        = true
  default_policy = "deny"
  tokens {
    initial_management = %q
    agent              = %q
  }
}
`, sec.consulToken, sec.consulToken)
	}
	if f := sec.tls; f != nil {
		s += fmt.Sprintf(`
tls {
  https {
    ca_file         = %q
    cert_file       = %q
    key_file        = %q
    verify_incoming = true
  }
}
`, f.CACert, f.AgentCert, f.AgentKey)
	}
	return s
}

// nomadSecurityConfig is the ACL and TLS part of Nomad's config, and what
// its consul block needs to reach a Consul locked the same way.
func nomadSecurityConfig(sec security) (agent, consul string) {
	if sec.nomadToken != "" {
		agent += "\nacl {\n  enabled = true\n}\n"
	}
	if sec.consulToken != "" {
		consul += fmt.Sprintf("  token = %q\n", sec.consulToken)
	}
	if f := sec.tls; f != nil {
		agent += fmt.Sprintf(`
tls {
  http                   = true
  rpc                    = true
  ca_file                = %q
  cert_file              = %q
  key_file               = %q
  verify_server_hostname = true
  verify_https_client    = true
}
`, f.CACert, f.AgentCert, f.AgentKey)
		consul += fmt.Sprintf("  ssl       = true\n  ca_file   = %q\n  cert_file = %q\n  key_file  = %q\n", f.CACert, f.AgentCert, f.AgentKey)
	}
	return agent, consul
}

// nomadConfig is the agent's config file. The fingerprint denylist is not
// cosmetic: with AWS_CA_BUNDLE set, the AWS fingerprinter fails and the agent
// exits at start-up; the cloud fingerprinters would also call out to metadata
// endpoints, and every address here is loopback.
func nomadConfig(p nomadPorts, dataDir string, consulHTTP int, capacity *Capacity, sec security) string {
	agentSec, consulSec := nomadSecurityConfig(sec)
	return fmt.Sprintf(`# Written by drover's testcluster.
disable_update_check = true
bind_addr            = "127.0.0.1"
data_dir             = %q
log_level            = "INFO"

ports {
  http = %d
  rpc  = %d
  serf = %d
}

plugin "raw_exec" {
  config {
    enabled = true
  }
}

client {
  options {
    "fingerprint.denylist" = "env_aws,env_gce,env_azure,env_digitalocean"
  }
%s}

consul {
  address = "127.0.0.1:%d"
%s}
%s`, dataDir, p.HTTP, p.RPC, p.Serf, capacityConfig(capacity), consulHTTP, consulSec, agentSec)
}

// capacityConfig is the client block's lines overriding its fingerprinted
// resources.
func capacityConfig(c *Capacity) string {
	if c == nil {
		return ""
	}
	var s string
	for _, kv := range []struct {
		key string
		v   int
	}{{"cpu_total_compute", c.CPUMHz}, {"memory_total_mb", c.MemoryMB}, {"disk_total_mb", c.DiskMB}} {
		if kv.v > 0 {
			s += fmt.Sprintf("  %s = %d\n", kv.key, kv.v)
		}
	}
	return s
}

// writeFile writes an agent config into dir and returns its path.
func writeFile(dir, name, content string) (string, error) {
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		return "", fmt.Errorf("write %s: %w", name, err)
	}
	return path, nil
}
