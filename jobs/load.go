package jobs

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"github.com/drover-dev/drover/failure"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/nomad/api"
)

// Loader turns the job files of a tree into jobs. It remembers what it
// parsed, so a file whose content and variables did not change costs no
// parse call in the next cycle. Loading the commit it loaded last returns
// the same Set without reading anything, and a tree that can name the files
// changed since that commit (a ChangeLister) has only those read again. A
// Loader is safe for one cycle at a time.
type Loader struct {
	Parser   Parser
	Selector Selector
	Vars     Variables
	// Namespace is given to jobs whose file sets none (NOMAD_NAMESPACE).
	Namespace string
	// Parallel bounds concurrent parse calls; 0 means 4.
	Parallel int
	// CallTimeout bounds each parse call; 0 means 1m.
	CallTimeout time.Duration
	// Progress, when set, is called after every parse call completes, so
	// the cycle runner can tell a long load from a hung one.
	Progress func()
	// MaxFileSize caps a job file and a var file, in bytes; 0 means
	// DefaultMaxFileSize. An oversized job file is an error on its File;
	// an oversized var file fails the load.
	MaxFileSize int64
	// Source names the source the files are read from (File.SourceName),
	// with many sources; "" with one.
	Source string

	// cache is the last verdict per path, with the key of the content and
	// variables it was made from.
	cache map[string]cached
	// last is the previous successful Load of a commit.
	last *lastLoad
}

// ChangeLister is a Tree that can list the paths that differ between an
// earlier revision and its own (added, modified or deleted).
type ChangeLister interface {
	ChangedSince(revision string) ([]string, error)
}

type cached struct {
	key  [32]byte
	file *File
}

type lastLoad struct {
	set *Set
	// config is the Loader's settings the set was loaded with.
	config string
	vars   resolved
}

// Set is the jobs of one revision.
type Set struct {
	Revision string
	// Commit describes the revision, when the tree could say.
	Commit *CommitInfo
	// Files are sorted by path; some may carry an Err.
	Files []*File
	// Skipped are paths the Selector matches that were not read, such as
	// symlinks, sorted by path. They are not errors: the set is complete
	// without them, as it was before they were committed.
	Skipped []Skipped
	// NoPrune, when set, says why this cycle must stop no job at all (the
	// instance is suspended, a deny window is open).
	NoPrune string
	// Keep are jobs this cycle must not stop even when their file is gone
	// (a suspended job), with why.
	Keep map[Key]string
	// Sources is, with many sources (--config), what each gave; nil when
	// drover follows the one source given by flags.
	Sources []SourceOutcome
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
// when the tree itself or the var files cannot be read. Loading the commit
// of the last load returns that very *Set, so a caller can report a set's
// Skipped paths once by comparing it with the set it had.
func (l *Loader) Load(ctx context.Context, tree Tree) (*Set, error) {
	config := l.config()
	rev := tree.Revision()
	var unchanged map[string]bool
	var vars resolved
	switch last := l.last; {
	case last == nil || last.config != config || rev == "" || last.set.Revision == "":
	case rev == last.set.Revision:
		// Same commit, same settings: the same jobs. A quiet cycle ends here.
		return last.set, nil
	default:
		unchanged, vars = l.unchangedSince(tree, last)
	}
	// The cache is about to move past the last commit: until this load
	// succeeds, a diff against that commit would no longer describe it.
	l.last = nil
	all, err := tree.Files()
	if err != nil {
		return nil, fmt.Errorf("list files at %s: %w", revisionName(tree), err)
	}
	skipped, err := l.skipped(tree)
	if err != nil {
		return nil, err
	}
	if unchanged == nil {
		if vars, err = l.Vars.resolve(tree, maxFileSize(l.MaxFileSize)); err != nil {
			return nil, err
		}
	}
	files, err := l.read(ctx, tree, l.Selector.Select(all), unchanged, vars)
	if err != nil {
		return nil, err
	}
	markDuplicates(files)
	set := &Set{Revision: rev, Commit: commitOf(tree), Files: files, Skipped: skipped}
	l.last = &lastLoad{set: set, config: config, vars: vars}
	return set, nil
}

// skipped returns the symlinks of tree that the Selector matches: job
// files that Files leaves out and the loader would otherwise never mention.
func (l *Loader) skipped(tree Tree) ([]Skipped, error) {
	sl, ok := tree.(SymlinkLister)
	if !ok {
		return nil, nil
	}
	links, err := sl.Symlinks()
	if err != nil {
		return nil, fmt.Errorf("list symlinks at %s: %w", revisionName(tree), err)
	}
	var out []Skipped
	for _, p := range l.Selector.Select(links) {
		out = append(out, Skipped{Path: p, Reason: skippedSymlink})
	}
	return out, nil
}

func commitOf(tree Tree) *CommitInfo {
	if d, ok := tree.(CommitDescriber); ok {
		c := d.CommitInfo()
		return &c
	}
	return nil
}

// unchangedSince returns the paths the tree did not change since the last
// load, and the variables that load used, when the tree can tell and no var
// file changed; nil otherwise. A changed var file changes every job.
func (l *Loader) unchangedSince(tree Tree, last *lastLoad) (map[string]bool, resolved) {
	cl, ok := tree.(ChangeLister)
	if !ok {
		return nil, resolved{}
	}
	changed, err := cl.ChangedSince(last.set.Revision)
	if err != nil {
		// The old commit may be gone after a force-push: read everything.
		return nil, resolved{}
	}
	touched := make(map[string]bool, len(changed))
	for _, p := range changed {
		touched[p] = true
	}
	for _, p := range l.Vars.Files {
		if touched[p] {
			return nil, resolved{}
		}
	}
	unchanged := make(map[string]bool, len(l.cache))
	for p := range l.cache {
		if !touched[p] {
			unchanged[p] = true
		}
	}
	return unchanged, last.vars
}

// read returns the file at each of paths: from the cache without reading
// it when unchanged says so, from the cache when its content and variables
// are the ones cached, parsed otherwise.
func (l *Loader) read(ctx context.Context, tree Tree, paths []string, unchanged map[string]bool, vars resolved) ([]*File, error) {
	// A parse Nomad does not answer stops the load: the other parses
	// would only wait out their own timeouts, one slot at a time.
	ctx, abort := context.WithCancelCause(ctx)
	defer abort(nil)
	files := make([]*File, len(paths))
	next := make(map[string]cached, len(paths))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, parallel(l.Parallel))
	for i, p := range paths {
		if c, ok := l.cache[p]; ok && unchanged[p] {
			files[i] = c.file
			mu.Lock()
			next[p] = c
			mu.Unlock()
			continue
		}
		src, err := readLimited(tree, p, "job file", maxFileSize(l.MaxFileSize))
		var tooLarge *FileTooLargeError
		switch {
		case errors.As(err, &tooLarge):
			// Not cached: the next load asks for the size again, which
			// costs no read.
			files[i] = &File{Path: p, Err: err, SourceName: l.Source}
			continue
		case err != nil:
			files[i] = &File{Path: p, Err: fmt.Errorf("%s: read: %w", p, err), SourceName: l.Source}
			continue
		}
		key := cacheKey(p, src, vars.text+"\x00"+vars.files, l.Namespace)
		if c, ok := l.cache[p]; ok && c.key == key {
			files[i] = c.file
			// Parses started by earlier iterations write next too.
			mu.Lock()
			next[p] = c
			mu.Unlock()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if ctx.Err() != nil {
				files[i] = &File{Path: p, Err: &failure.Transient{Err: context.Cause(ctx)}, SourceName: l.Source}
				return
			}
			f := l.parse(ctx, p, src, vars)
			files[i] = f
			if isTransient(f.Err) {
				abort(f.Err)
			}
			// A parse interrupted by shutdown or a Nomad outage says
			// nothing about the file; only cache real verdicts.
			if !isTransient(f.Err) {
				mu.Lock()
				next[p] = cached{key: key, file: f}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	l.cache = next
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	for _, f := range files {
		if f.Err != nil && isTransient(f.Err) {
			return nil, f.Err
		}
	}
	return files, nil
}

// config is every Loader setting a load's result depends on.
func (l *Loader) config() string {
	flags := make([]string, 0, len(l.Vars.Flags))
	for k, v := range l.Vars.Flags {
		flags = append(flags, k+"="+v)
	}
	sort.Strings(flags)
	return fmt.Sprintf("%q %q %q %q %q %q %d", l.Selector.Dirs, l.Selector.Include, l.Selector.Exclude,
		l.Vars.Files, flags, l.Namespace, maxFileSize(l.MaxFileSize))
}

func (l *Loader) parse(ctx context.Context, p string, src []byte, vars resolved) *File {
	f := &File{Path: p, Source: src, SourceName: l.Source}
	timeout := l.CallTimeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	callCtx, cancel := context.WithTimeout(ctx, timeout)
	job, err := l.Parser.ParseJob(callCtx, &api.JobsParseRequest{
		JobHCL:    string(src),
		Variables: vars.text,
	})
	cancel()
	if l.Progress != nil {
		l.Progress()
	}
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
	if v, ok := job.Meta[MetaIgnore]; ok {
		ignore, err := ParseIgnore(v)
		if err != nil {
			f.Err = fmt.Errorf("%s: job %q: meta %s: %w", p, *job.ID, MetaIgnore, err)
			return f
		}
		f.Ignore = ignore
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
		return &failure.Transient{Err: fmt.Errorf("parse %s: %w", path, err)}
	}
	msg := strings.TrimSpace(ue.Body())
	msg = strings.TrimPrefix(msg, "Failed to parse job: ")
	pe := &ParseError{Path: path, Msg: strings.ReplaceAll(msg, "input.hcl:", path+":")}
	if m := inputPos.FindStringSubmatch(msg); m != nil {
		pe.Line, _ = strconv.Atoi(m[1])
	}
	return pe
}

// isTransient reports whether a parse's error is the cycle's, not the
// file's: Nomad did not answer, or the load was stopped.
func isTransient(err error) bool {
	return failure.IsTransient(err) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
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

// LoadFile loads one file of tree, with the var files of that same tree:
// the spec as it was at that commit, which a rollback puts back.
func (l *Loader) LoadFile(ctx context.Context, tree Tree, path string) (*File, error) {
	vars, err := l.Vars.resolve(tree, maxFileSize(l.MaxFileSize))
	if err != nil {
		return nil, err
	}
	src, err := readLimited(tree, path, "job file", maxFileSize(l.MaxFileSize))
	if err != nil {
		return nil, fmt.Errorf("%s at %s: read: %w", path, revisionName(tree), err)
	}
	f := l.parse(ctx, path, src, vars)
	if f.Err != nil {
		return nil, f.Err
	}
	return f, nil
}
