package testcluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	consulapi "github.com/hashicorp/consul/api"
)

func TestConsulOnly_RestartsEmptyOnTheSamePort(t *testing.T) {
	t.Parallel()
	c := StartConsulOnlyT(t)
	kv := c.Client().KV()
	if _, err := kv.Put(&consulapi.KVPair{Key: "k", Value: []byte("v")}, nil); err != nil {
		t.Fatalf("put: %v", err)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := kv.Get("k", nil); err == nil {
		t.Fatal("consul still answering after Stop")
	}
	addr := c.Addr()
	if err := c.Start(t.Context()); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if c.Addr() != addr {
		t.Errorf("restarted at %s; want the same address %s", c.Addr(), addr)
	}
	p, _, err := kv.Get("k", nil)
	if err != nil || p != nil {
		t.Errorf("get after restart = %+v, %v; want an empty dev store", p, err)
	}
	if err := c.Start(t.Context()); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second Start = %v; want already running", err)
	}
}

func TestConsulOnly_MissingBinaryFailsWithHint(t *testing.T) {
	_, err := StartConsulOnly(t.Context(), Options{ConsulBin: filepath.Join(t.TempDir(), "consul"), Dir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "DROVER_CONSUL_BIN") {
		t.Fatalf("err = %v, want a hint naming DROVER_CONSUL_BIN", err)
	}
}

func TestConsulOnly_AgentExitingQuotesItsLog(t *testing.T) {
	fake := filepath.Join(t.TempDir(), "consul")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho 'no such flag, says the fake'\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := StartConsulOnly(t.Context(), Options{ConsulBin: fake, Dir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "no such flag, says the fake") {
		t.Errorf("err = %v, want the exit status and the log line", err)
	}
}
