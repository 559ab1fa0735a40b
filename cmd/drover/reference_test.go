package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drover-dev/drover/internal/docgen"
)

// updateDocs makes TestReference_DocsAreCurrent write the pages instead of
// comparing them: `make docs`.
var updateDocs = flag.Bool("update-docs", false, "write docs/reference/*.md from the code")

const referenceDir = "../../docs/reference"

// TestReference_DocsAreCurrent fails when a page of docs/reference differs
// from what the code generates now (a flag, metric, route or meta key
// added, changed or removed without `make docs`).
func TestReference_DocsAreCurrent(t *testing.T) {
	pages, err := docgen.Generate(docgen.Inputs{Root: "../..", Overview: overview, Commands: referenceCommands()})
	if err != nil {
		t.Fatal(err)
	}
	if *updateDocs {
		if err := os.MkdirAll(referenceDir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, want := range pages {
		path := filepath.Join(referenceDir, name)
		if *updateDocs {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("docs/reference/%s is not what the code generates: run `make docs` and commit the result", name)
		}
	}
	// A generated page the code no longer produces is stale too.
	existing, err := filepath.Glob(filepath.Join(referenceDir, "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range existing {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := pages[filepath.Base(path)]; !ok && bytes.HasPrefix(b, []byte(docgen.Header)) {
			t.Errorf("docs/reference/%s is generated but nothing generates it any more: delete it", filepath.Base(path))
		}
	}
}

// referenceCommands describes every command's flags as --help shows them.
// suspend and resume take the agent's flags; only their own are listed.
func referenceCommands() []docgen.Command {
	var out []docgen.Command
	agentGroups := map[string]bool{}
	for _, cmd := range commands() {
		f := newFlagSet(cmd.name)
		cmd.flags(&config{}, f)
		dc := docgen.Command{Name: cmd.name, Args: cmd.args, Summary: cmd.summary}
		if cmd.args != "" {
			dc.FlagsOf = "agent"
		}
		for _, g := range f.groups {
			if cmd.name == "agent" {
				agentGroups[g.title] = true
			}
			if dc.FlagsOf != "" && agentGroups[g.title] {
				continue
			}
			dg := docgen.FlagGroup{Title: g.title}
			for _, s := range g.specs {
				dg.Flags = append(dg.Flags, docgen.Flag{Name: s.name, Env: s.env, Default: referenceDefault(s.def), Usage: s.usage})
			}
			dc.Groups = append(dc.Groups, dg)
		}
		out = append(out, dc)
	}
	return out
}

// referenceDefault writes a default that depends on the machine the way
// it is worked out, not as this machine's value.
func referenceDefault(def string) string {
	if def == defaultDataDir() {
		return "<user cache dir>/drover"
	}
	return strings.TrimSpace(def)
}
