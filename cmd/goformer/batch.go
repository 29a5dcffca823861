package main

import (
	"encoding/json"
	"image"

	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/goformer/goformer"
)

// stdin is what "-" reads (a variable for the tests).
var stdin io.Reader = os.Stdin

// File extensions a directory argument is expanded to, by kind of input.
var (
	imageExts = []string{".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff"}
	audioExts = []string{".wav", ".flac", ".mp3", ".ogg", ".oga"}
)

// expandInputs turns the positional arguments into inputs: "-" is standard
// input (once), a directory stands for its files with one of exts (sorted,
// not recursive), a glob pattern for the files it matches; anything else is
// a file name, checked when it is opened.
func expandInputs(args, exts []string) ([]string, error) {
	var out []string
	dash := false
	for _, a := range args {
		if a == "-" {
			if dash {
				return nil, usagef(`"-" (standard input) given twice`)
			}
			dash = true
			out = append(out, a)
			continue
		}
		st, err := os.Stat(a)
		switch {
		case err == nil && st.IsDir():
			entries, err := os.ReadDir(a)
			if err != nil {
				return nil, err
			}
			n := 0
			for _, e := range entries {
				if !e.IsDir() && hasExt(e.Name(), exts) {
					out = append(out, filepath.Join(a, e.Name()))
					n++
				}
			}
			if n == 0 {
				return nil, fmt.Errorf("%s: no %s files in this folder", a, strings.Join(exts, ", "))
			}
		case err != nil && strings.ContainsAny(a, "*?["):
			matches, gerr := filepath.Glob(a)
			if gerr != nil {
				return nil, usagef("pattern %q: %v", a, gerr)
			}
			if len(matches) == 0 {
				return nil, fmt.Errorf("%s: no file matches: %w", a, os.ErrNotExist)
			}
			sort.Strings(matches)
			out = append(out, matches...)
		default:
			out = append(out, a)
		}
	}
	return out, nil
}

func hasExt(name string, exts []string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	for _, e := range exts {
		if ext == e {
			return true
		}
	}
	return false
}

// openInput opens an input: a file, or standard input for "-".
func openInput(name string) (io.ReadCloser, error) {
	if name == "-" {
		return io.NopCloser(stdin), nil
	}
	return os.Open(name)
}

// displayName is how an input is named in results and errors.
func displayName(name string) string {
	if name == "-" {
		return "stdin"
	}
	return name
}

// batchError reports that some inputs of a command failed (each was
// reported on its own line): the results of the others were written.
type batchError struct{ failed, total int }

func (b *batchError) Error() string {
	return fmt.Sprintf("%d of %d inputs failed", b.failed, b.total)
}

// each runs fn on every input in turn. A failing input is reported as one
// line on standard error and the others still run; the result is nil, the
// error of a single input, or a *batchError. Cancellation stops the loop.
func (e *env) each(cmd string, inputs []string, fn func(name string) error) error {
	failed := 0
	for i, name := range inputs {
		if err := e.ctx.Err(); err != nil {
			return err
		}
		err := fn(name)
		if err == nil {
			continue
		}
		err = withPath(displayName(name), err)
		if len(inputs) == 1 || e.ctx.Err() != nil {
			return err
		}
		var u *usageError
		if errors.As(err, &u) && i == 0 {
			return err
		}
		failed++
		fmt.Fprintf(e.stderr, "goformer %s: %s\n", cmd, oneLine(err.Error()))
	}
	if failed > 0 {
		return &batchError{failed, len(inputs)}
	}
	return nil
}

// readImage decodes an image input.
func readImage(name string) (image.Image, error) {
	r, err := openInput(name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return goformer.DecodeImage(r)
}

// imageResult is what an image command made of one input: the value written
// in the JSON formats, and its text form.
type imageResult struct {
	json any
	text func(w io.Writer, name string, multi bool)
}

// runImages runs fn on every image input and writes the results in c's
// format: text as each is done; jsonl one line per result as each is done;
// json one array of every result at the end (the results of the inputs
// that worked, when some failed).
func (e *env) runImages(cmd string, c common, inputs []string, fn func(name string, img image.Image) (imageResult, error)) error {
	w, done := c.output(e)
	var all []any
	multi := len(inputs) > 1
	err := e.each(cmd, inputs, func(name string) error {
		img, err := readImage(name)
		if err != nil {
			return err
		}
		r, err := fn(displayName(name), img)
		if err != nil {
			return err
		}
		switch *c.format {
		case "json":
			all = append(all, r.json)
		case "jsonl":
			return writeJSONLine(w, r.json)
		default:
			r.text(w, displayName(name), multi)
		}
		return nil
	})
	if *c.format == "json" && len(all) > 0 {
		if werr := writeJSON(w, all); werr != nil && err == nil {
			err = werr
		}
	}
	return done(err)
}

// writeJSONLine writes v as one line of compact JSON (JSON Lines).
func writeJSONLine(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
