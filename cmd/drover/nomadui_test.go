package main

import "testing"

func TestNomadUI_DefaultsToNomadAddrWithoutCredentials(t *testing.T) {
	for _, tc := range []struct{ flag, nomadAddr, want string }{
		{"", "", "http://127.0.0.1:4646/ui"},
		{"", "https://nomad.example.com:4646/", "https://nomad.example.com:4646/ui"},
		{"", "https://user:secret@nomad.example.com", "https://nomad.example.com/ui"},
		{"https://nomad.example.com/ui/", "http://other:4646", "https://nomad.example.com/ui"},
		{"javascript:alert(1)", "", ""},
	} {
		c := &config{nomadUIURL: tc.flag}
		got := c.nomadUI(func(k string) string {
			if k == "NOMAD_ADDR" {
				return tc.nomadAddr
			}
			return ""
		})
		if got != tc.want {
			t.Errorf("--nomad-ui-url %q, NOMAD_ADDR %q: %q, want %q", tc.flag, tc.nomadAddr, got, tc.want)
		}
	}
}
