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
func consulConfig(p consulPorts) string {
	return fmt.Sprintf(`# Written by drover's testcluster.
disable_update_check = true
log_level            = "INFO"

ports {
  http     = %d
  https    = -1
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
`, p.HTTP, p.SerfLAN, p.SerfWAN, p.Server)
}

// nomadConfig is the agent's config file. The fingerprint denylist is not
// cosmetic: with AWS_CA_BUNDLE set, the AWS fingerprinter fails and the agent
// exits at start-up; the cloud fingerprinters would also call out to metadata
// endpoints, and every address here is loopback.
func nomadConfig(p nomadPorts, dataDir string, consulHTTP int, capacity *Capacity) string {
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
}
`, dataDir, p.HTTP, p.RPC, p.Serf, capacityConfig(capacity), consulHTTP)
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
