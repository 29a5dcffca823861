package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goformer/goformer/beam/internal/testref"
)

func TestMain(m *testing.M) { os.Exit(testref.RunPrism(m)) }

// shared locates the reference data as the infer tests do.
func shared(t *testing.T, elem ...string) string {
	t.Helper()
	return testref.Path(t, elem...)
}

// TestCommand runs the command's pipeline (classification and text
// embedding) on Prism and reads what it wrote.
func TestCommand(t *testing.T) {
	images := shared(t, "media", "images")
	out := t.TempDir()
	o := &options{task: "classify", model: shared(t, "fixtures", "vit", "model"), output: out, shards: 2, topK: 2}
	o.inputs = listFlag{filepath.Join(images, "*.png"), filepath.Join(images, "*.jpg")}
	if err := run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	pngs, _ := filepath.Glob(filepath.Join(images, "*.png"))
	jpgs, _ := filepath.Glob(filepath.Join(images, "*.jpg"))
	lines := readAll(t, filepath.Join(out, "results-*-of-00002.jsonl"))
	dead := readAll(t, filepath.Join(out, "deadletter-00000-of-00001.jsonl"))
	if len(lines)+len(dead) != len(pngs)+len(jpgs) || len(dead) != 1 || !strings.Contains(dead[0], "truncated.jpg") {
		t.Errorf("%d records and dead letters %v for %d inputs", len(lines), dead, len(pngs)+len(jpgs))
	}
	for _, l := range lines {
		var r struct {
			Result []struct{ Label string } `json:"result"`
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil || len(r.Result) != 2 {
			t.Errorf("record %s: %v", l, err)
		}
	}

	texts := filepath.Join(t.TempDir(), "texts.txt")
	os.WriteFile(texts, []byte("a cat\na dog\na cat\n"), 0o644)
	out2 := t.TempDir()
	o = &options{task: "embed-texts", model: shared(t, "fixtures", "clip", "model"), output: out2, shards: 1, indexShards: 1, inputs: listFlag{texts}}
	if err := run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, filepath.Join(out2, "vectors-00000-of-00001.jsonl")); len(got) != 2 {
		t.Errorf("%d vectors for 2 distinct texts", len(got))
	}
	if _, err := os.Stat(filepath.Join(out2, "index-00000-of-00001.gfidx")); err != nil {
		t.Error(err)
	}

	for _, bad := range []*options{
		{task: "classify", output: out},
		{task: "classify", inputs: listFlag{"x"}},
		{task: "sing", inputs: listFlag{"x"}, output: out},
		{task: "answer", inputs: listFlag{"x"}, output: out, model: "m"},
		{task: "transcribe", inputs: listFlag{"x"}, output: out, model: "m", temperatures: "0,hot"},
	} {
		if _, err := build(bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// readAll returns the non-empty lines of the files matching glob.
func readAll(t *testing.T, glob string) []string {
	t.Helper()
	lines, files := testref.ReadLines(t, glob)
	if len(files) == 0 {
		t.Fatalf("nothing matches %s", glob)
	}
	return lines
}
