package jobs

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/hashicorp/nomad/api"
)

// Loader turns the job files of a tree into jobs. It remembers what it
// parsed, so a file whose content and variables did not change costs no
// parse call in the next cycle. A Loader is safe for one cycle at a time.
type Loader struct {
	Parser   Parser
	Selector Selector
	Vars     Variables
	// Namespace is given to jobs whose file sets none (NOMAD_NAMESPACE).
	Namespace string
	// Parallel bounds concurrent parse calls; 0 means 4.
	Parallel int

	cache map[[32]byte]*File
}

// Set is the jobs of one revision.
type Set struct {
	Revision string
	// Files are sorted by path; some may carry an Err.
	Files []*File
}

// Failed reports whether any file could not become a job. A cycle with a
// failed file must not prune: the broken file may be the missing job.
func (s *Set) Failed() bool {
	for _, f := range s.Files {
		if f.Err != nil {
			return true
		}
	}
	return false
}

// Keys returns the keys of the jobs that loaded.
func (s *Set) Keys() map[Key]bool {
	keys := make(map[Key]bool, len(s.Files))
	for _, f := range s.Files {
		if f.Err == nil {
			keys[f.Key()] = true
		}
	}
	return keys
}

// Load selects, reads and parses every job file of tree. A broken file is
// recorded on its File and never stops the others; an error is returned only
// when the tree itself or the var files cannot be read.
func (l *Loader) Load(ctx context.Context, tree Tree) (*Set, error) {
	all, err := tree.Files()
	if err != nil {
		return nil, fmt.Errorf("list files at %s: %w", revisionName(tree), err)
	}
	vars, err := l.Vars.resolve(tree)
	if err != nil {
		return nil, err
	}
	paths := l.Selector.Select(all)
	files := make([]*File, len(paths))
	next := make(map[[32]byte]*File, len(paths))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, parallel(l.Parallel))
	for i, p := range paths {
		src, err := tree.ReadFile(p)
		if err != nil {
			files[i] = &File{Path: p, Err: fmt.Errorf("%s: read: %w", p, err)}
			continue
		}
		key := cacheKey(p, src, vars.text+"\x00"+vars.files, l.Namespace)
		if f, ok := l.cache[key]; ok {
			files[i] = f
			// Parses started by earlier iterations write next too.
			mu.Lock()
			next[key] = f
			mu.Unlock()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			f := l.parse(ctx, p, src, vars)
			files[i] = f
			// A parse interrupted by shutdown or a Nomad outage says
			// nothing about the file; only cache real verdicts.
			if !isTransient(f.Err) {
				mu.Lock()
				next[key] = f
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	l.cache = next
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, f := range files {
		if f.Err != nil && isTransient(f.Err) {
			return nil, f.Err
		}
	}
	markDuplicates(files)
	return &Set{Revision: tree.Revision(), Files: files}, nil
}

func (l *Loader) parse(ctx context.Context, p string, src []byte, vars resolved) *File {
	f := &File{Path: p, Source: src}
	job, err := l.Parser.ParseJob(ctx, &api.JobsParseRequest{
		JobHCL:    string(src),
		Variables: vars.text,
	})
	if err != nil {
		f.Err = parseError(p, err)
		return f
	}
	if job.ID == nil || *job.ID == "" {
		f.Err = fmt.Errorf("%s: the file declares no job", p)
		return f
	}
	if job.Namespace == nil || *job.Namespace == "" {
		ns := l.Namespace
		if ns == "" {
			ns = "default"
		}
		job.Namespace = &ns
	}
	fp, err := Fingerprint(job)
	if err != nil {
		f.Err = fmt.Errorf("%s: fingerprint: %w", p, err)
		return f
	}
	f.Job, f.Fingerprint = job, fp
	f.Submission = &api.JobSubmission{
		Source:        string(src),
		Format:        "hcl2",
		VariableFlags: l.Vars.Flags,
		Variables:     vars.files,
	}
	return f
}

// markDuplicates fails every file that declares a job another file declares
// too: applying either would flap between them.
func markDuplicates(files []*File) {
	byKey := map[Key][]int{}
	for i, f := range files {
		if f.Err == nil {
			byKey[f.Key()] = append(byKey[f.Key()], i)
		}
	}
	for k, idx := range byKey {
		if len(idx) < 2 {
			continue
		}
		var paths []string
		for _, i := range idx {
			paths = append(paths, files[i].Path)
		}
		for _, i := range idx {
			// Files are cached across cycles: fail a copy, so an unchanged
			// file loads cleanly once the other declaration is gone.
			f := *files[i]
			f.Err = fmt.Errorf("%s: job %s is declared in more than one file: %s", f.Path, k, strings.Join(paths, ", "))
			files[i] = &f
		}
	}
}

// ParseError is a job file the cluster's parser rejected.
type ParseError struct {
	Path string
	// Line is the first line the parser named, or 0.
	Line int
	// Msg is the parser's diagnostic, with positions naming Path.
	Msg string
}

func (e *ParseError) Error() string {
	if strings.HasPrefix(e.Msg, e.Path+":") {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// inputPos is a position in Nomad's diagnostics, which call the job source
// "input.hcl".
var inputPos = regexp.MustCompile(`input\.hcl:(\d+)`)

func parseError(path string, err error) error {
	var ue api.UnexpectedResponseError
	if !errors.As(err, &ue) || ue.StatusCode() != 400 {
		return &transientError{fmt.Errorf("parse %s: %w", path, err)}
	}
	msg := strings.TrimSpace(ue.Body())
	msg = strings.TrimPrefix(msg, "Failed to parse job: ")
	pe := &ParseError{Path: path, Msg: strings.ReplaceAll(msg, "input.hcl:", path+":")}
	if m := inputPos.FindStringSubmatch(msg); m != nil {
		pe.Line, _ = strconv.Atoi(m[1])
	}
	return pe
}

// transientError is a parse that failed for reasons outside the file: the
// cycle fails instead of blaming the file.
type transientError struct{ err error }

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

func isTransient(err error) bool {
	var t *transientError
	return errors.As(err, &t) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// cacheKey identifies everything a parse result depends on.
func cacheKey(path string, src []byte, vars, namespace string) [32]byte {
	h := sha256.New()
	for _, part := range [][]byte{[]byte(path), src, []byte(vars), []byte(namespace)} {
		fmt.Fprintf(h, "%d:", len(part))
		h.Write(part)
	}
	var k [32]byte
	h.Sum(k[:0])
	return k
}

func parallel(n int) int {
	if n <= 0 {
		return 4
	}
	return n
}

func revisionName(t Tree) string {
	if r := t.Revision(); r != "" {
		return r
	}
	return "directory"
}
