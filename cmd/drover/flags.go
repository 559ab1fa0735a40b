package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// flagSet is a flag.FlagSet in which every flag can also be set by a
// DROVER_* environment variable; the command line wins over the
// environment, which wins over the default.
type flagSet struct {
	fs     *flag.FlagSet
	groups []*flagGroup
}

type flagGroup struct {
	title string
	specs []*flagSpec
}

type flagSpec struct {
	name, env, def, usage string
}

func newFlagSet(name string) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return &flagSet{fs: fs}
}

func (f *flagSet) group(title string) *flagGroup {
	for _, g := range f.groups {
		if g.title == title {
			return g
		}
	}
	g := &flagGroup{title: title}
	f.groups = append(f.groups, g)
	return g
}

func envName(flagName string) string {
	return "DROVER_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func (f *flagSet) add(g *flagGroup, v flag.Value, name, def, usage string) {
	f.fs.Var(v, name, usage)
	g.specs = append(g.specs, &flagSpec{name: name, env: envName(name), def: def, usage: usage})
}

func (f *flagSet) String(g *flagGroup, p *string, name, def, usage string) {
	*p = def
	f.add(g, (*stringValue)(p), name, def, usage)
}

func (f *flagSet) Bool(g *flagGroup, p *bool, name string, def bool, usage string) {
	*p = def
	f.add(g, &boolValue{parsed[bool]{p, strconv.ParseBool, strconv.FormatBool, "a boolean"}}, name, strconv.FormatBool(def), usage)
}

func (f *flagSet) Int(g *flagGroup, p *int, name string, def int, usage string) {
	*p = def
	f.add(g, &parsed[int]{p, strconv.Atoi, strconv.Itoa, "a whole number"}, name, strconv.Itoa(def), usage)
}

func (f *flagSet) Duration(g *flagGroup, p *time.Duration, name string, def time.Duration, usage string) {
	*p = def
	f.add(g, &parsed[time.Duration]{p, time.ParseDuration, time.Duration.String, "a duration like 30s or 5m"}, name, def.String(), usage)
}

// List is a repeatable flag; its environment variable is comma-separated.
func (f *flagSet) List(g *flagGroup, p *[]string, name, def, usage string) {
	f.add(g, &listValue{p: p}, name, def, usage)
}

// parse applies the environment, then args. Errors name the variable or
// flag at fault.
func (f *flagSet) parse(args []string, getenv func(string) string) error {
	for _, g := range f.groups {
		for _, s := range g.specs {
			v := getenv(s.env)
			if v == "" {
				continue
			}
			if l, ok := f.fs.Lookup(s.name).Value.(*listValue); ok {
				for _, item := range strings.Split(v, ",") {
					if item = strings.TrimSpace(item); item != "" {
						if err := l.Set(item); err != nil {
							return fmt.Errorf("environment variable %s: %w", s.env, err)
						}
					}
				}
				l.fromEnv = true
				continue
			}
			if err := f.fs.Set(s.name, v); err != nil {
				return fmt.Errorf("environment variable %s: invalid value for --%s: %w", s.env, s.name, err)
			}
		}
	}
	return f.fs.Parse(args)
}

// setNames are the flags parse set, from the command line or the
// environment.
func (f *flagSet) setNames(getenv func(string) string) map[string]bool {
	set := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	for _, g := range f.groups {
		for _, s := range g.specs {
			if getenv(s.env) != "" {
				set[s.name] = true
			}
		}
	}
	return set
}

// usage writes every flag with its environment variable and default.
func (f *flagSet) usage(w io.Writer) {
	for _, g := range f.groups {
		fmt.Fprintf(w, "\n%s:\n", g.title)
		for _, s := range g.specs {
			fmt.Fprintf(w, "  --%s\n", s.name)
			for _, line := range strings.Split(s.usage, "\n") {
				fmt.Fprintf(w, "        %s\n", line)
			}
			meta := "env " + s.env
			if s.def != "" {
				meta += ", default " + s.def
			}
			fmt.Fprintf(w, "        (%s)\n", meta)
		}
	}
}

type stringValue string

func (s *stringValue) Set(v string) error { *s = stringValue(v); return nil }
func (s *stringValue) String() string     { return string(*s) }

// parsed is a flag of type T: parse reads a value, refusing what it
// cannot read as not want, and format writes one.
type parsed[T any] struct {
	p      *T
	parse  func(string) (T, error)
	format func(T) string
	want   string
}

func (v *parsed[T]) Set(s string) error {
	x, err := v.parse(s)
	if err != nil {
		return fmt.Errorf("%q is not %s", s, v.want)
	}
	*v.p = x
	return nil
}

func (v *parsed[T]) String() string {
	if v.p == nil { // the flag package's zero value
		return ""
	}
	return v.format(*v.p)
}

// boolValue is a parsed bool that may stand alone: --flag is --flag=true.
type boolValue struct{ parsed[bool] }

func (*boolValue) IsBoolFlag() bool { return true }

// listValue collects repeated flags. Values from the environment are
// replaced, not extended, by the command line.
type listValue struct {
	p       *[]string
	fromEnv bool
}

func (l *listValue) Set(v string) error {
	if l.fromEnv {
		*l.p, l.fromEnv = nil, false
	}
	*l.p = append(*l.p, v)
	return nil
}
func (l *listValue) String() string {
	if l.p == nil {
		return ""
	}
	return strings.Join(*l.p, ",")
}
