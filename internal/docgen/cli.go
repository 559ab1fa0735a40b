package docgen

import (
	"bytes"
	"fmt"
	"strings"
)

func renderCLI(in Inputs) ([]byte, error) {
	if len(in.Commands) == 0 {
		return nil, fmt.Errorf("no commands given")
	}
	b := newPage("Command-line reference",
		"Every command and every flag, with its `DROVER_*` environment variable and default, from the flag sets in `cmd/drover`. "+
			"A flag's variable sets it when the flag is not on the command line (the command line wins); a list flag is repeatable, "+
			"and its variable is comma-separated. `drover --help` and `drover COMMAND --help` print the same.")
	fmt.Fprintf(b, "\n```\n%s```\n", in.Overview)
	for _, cmd := range in.Commands {
		fmt.Fprintf(b, "\n## drover %s\n\n", strings.TrimSpace(cmd.Name+" "+cmd.Args))
		fmt.Fprintf(b, "%s\n", cell(cmd.Summary))
		if cmd.FlagsOf != "" {
			fmt.Fprintf(b, "\nTakes every flag of [drover %s](#drover-%s), and:\n", cmd.FlagsOf, cmd.FlagsOf)
		}
		for _, g := range cmd.Groups {
			writeFlags(b, g)
		}
	}
	return b.Bytes(), nil
}

func writeFlags(b *bytes.Buffer, g FlagGroup) {
	fmt.Fprintf(b, "\n### %s\n\n| flag | environment | default | meaning |\n|---|---|---|---|\n", g.Title)
	for _, f := range g.Flags {
		fmt.Fprintf(b, "| `--%s` | `%s` | %s | %s |\n", f.Name, f.Env, code(f.Default), cell(f.Usage))
	}
}
