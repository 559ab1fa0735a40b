package testcluster

import (
	"strings"
	"testing"
)

func TestNomadConfig_Capacity(t *testing.T) {
	plain := nomadConfig(nomadPorts{HTTP: 1, RPC: 2, Serf: 3}, "/d", 4, nil, security{})
	if strings.Contains(plain, "_total_") {
		t.Errorf("without Capacity the config overrides resources:\n%s", plain)
	}
	got := nomadConfig(nomadPorts{HTTP: 1, RPC: 2, Serf: 3}, "/d", 4, &Capacity{CPUMHz: 100000, DiskMB: 500000}, security{})
	for _, want := range []string{"  cpu_total_compute = 100000\n", "  disk_total_mb = 500000\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("config lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "memory_total_mb") {
		t.Errorf("a zero field overrides the fingerprint:\n%s", got)
	}
}
