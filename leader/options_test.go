package leader

import (
	"strings"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
)

func TestNew_RefusesWhatConsulWouldAndAppliesDefaults(t *testing.T) {
	c, err := consulapi.NewClient(&consulapi.Config{Address: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	ok := Options{Key: "drover/x/leader", Holder: Holder{ID: "a"}}
	with := func(f func(*Options)) Options { o := ok; f(&o); return o }
	for _, tc := range []struct {
		name    string
		c       *consulapi.Client
		opts    Options
		wantErr string
	}{
		{"defaults", c, ok, ""},
		{"no client", nil, ok, "no Consul client"},
		{"no key", c, with(func(o *Options) { o.Key = "" }), "no lock key"},
		{"no holder ID", c, with(func(o *Options) { o.Holder.ID = "" }), "no holder ID"},
		{"TTL below Consul's minimum", c, with(func(o *Options) { o.TTL = 5 * time.Second }), "outside what Consul accepts"},
		{"TTL above Consul's maximum", c, with(func(o *Options) { o.TTL = 25 * time.Hour }), "outside what Consul accepts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := New(tc.c, tc.opts)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("New = %v; want an error saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if e.opts.TTL != DefaultTTL || e.opts.LockDelay != DefaultLockDelay || e.opts.Retry == nil {
				t.Errorf("defaults = TTL %s, lock delay %s, retry set %v", e.opts.TTL, e.opts.LockDelay, e.opts.Retry != nil)
			}
		})
	}
}
