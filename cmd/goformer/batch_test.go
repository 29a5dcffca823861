package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goformer/goformer/internal/testdata"
)

// linkInto links files into dir under new names (name → target).
func linkInto(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, target := range files {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestBatchContinuesPastBadInputs(t *testing.T) {
	good, bad := imagePath(t, "chelsea.png"), imagePath(t, "truncated.jpg")
	missing := filepath.Join(t.TempDir(), "missing.png")
	out, stderr, code := runCLI(t, "caption", "-model", fixtureModel(t, "vit-gpt2"), "-max-tokens", "3", good, bad, missing, good)
	if code != exitError {
		t.Errorf("exit %d, want %d", code, exitError)
	}
	if n := strings.Count(out, good+": "); n != 2 {
		t.Errorf("stdout has %d captions of %s, want 2:\n%s", n, good, out)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "truncated.jpg") || !strings.Contains(lines[1], "missing.png") ||
		!strings.Contains(lines[2], "2 of 4 inputs failed") {
		t.Errorf("stderr:\n%s\nwant one line per bad input and a summary", stderr)
	}
	// JSON: the results of the inputs that worked, in one array.
	out, _, code = runCLI(t, "classify", "-model", fixtureModel(t, "vit"), "-format", "json", "-k", "1", good, bad)
	var got []Classification
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got) != 1 || got[0].Image != good || code != exitError {
		t.Errorf("json with a bad input: exit %d, %q (%v)", code, out, err)
	}
	// JSON Lines: one object per line.
	out = mustRun(t, "classify", "-model", fixtureModel(t, "vit"), "-format", "jsonl", "-k", "1", good, good)
	lines = strings.Split(strings.TrimSpace(out), "\n")
	for _, l := range lines {
		var c Classification
		if err := json.Unmarshal([]byte(l), &c); err != nil || c.Image != good || len(c.Predictions) != 1 {
			t.Errorf("jsonl line %q (%v)", l, err)
		}
	}
	if len(lines) != 2 {
		t.Errorf("%d jsonl lines, want 2", len(lines))
	}
}

func TestBatchInputsFoldersGlobsStdin(t *testing.T) {
	dir := t.TempDir()
	linkInto(t, dir, map[string]string{
		"a.png": imagePath(t, "chelsea.png"), "b.PNG": imagePath(t, "coffee.png"), "notes.txt": imagePath(t, "chelsea.png"),
	})
	vit := fixtureModel(t, "vit")
	out := mustRun(t, "classify", "-model", vit, "-k", "1", "-format", "jsonl", dir)
	if strings.Count(out, "\n") != 2 || !strings.Contains(out, "a.png") || !strings.Contains(out, "b.PNG") || strings.Contains(out, "notes.txt") {
		t.Errorf("folder: %s", out)
	}
	if glob := mustRun(t, "classify", "-model", vit, "-k", "1", "-format", "jsonl", filepath.Join(dir, "*.png")); strings.Count(glob, "\n") != 1 {
		t.Errorf("glob: %s", glob)
	}
	if _, stderr, code := runCLI(t, "classify", "-model", vit, filepath.Join(dir, "*.jpg")); code != exitError || !strings.Contains(stderr, "no file matches") {
		t.Errorf("empty glob: exit %d %q", code, stderr)
	}
	raw, err := os.ReadFile(imagePath(t, "chelsea.png"))
	if err != nil {
		t.Fatal(err)
	}
	old := stdin
	defer func() { stdin = old }()
	stdin = bytes.NewReader(raw)
	fromStdin := mustRun(t, "classify", "-model", vit, "-k", "2", "-format", "json", "-")
	fromFile := mustRun(t, "classify", "-model", vit, "-k", "2", "-format", "json", imagePath(t, "chelsea.png"))
	if strings.Replace(fromFile, imagePath(t, "chelsea.png"), "stdin", 1) != fromStdin {
		t.Errorf("stdin:\n%s\nfile:\n%s", fromStdin, fromFile)
	}
	if _, _, code := runCLI(t, "classify", "-model", vit, "-", "-"); code != exitUsage {
		t.Errorf(`"-" twice: exit %d`, code)
	}
}

func TestTranscribeOutputDir(t *testing.T) {
	jfk := testdata.Path(t, "media", "audio", "jfk.flac")
	in := t.TempDir()
	linkInto(t, in, map[string]string{"one.flac": jfk, "two.flac": jfk})
	outDir := filepath.Join(t.TempDir(), "out")
	w2v := fixtureModel(t, "wav2vec2")
	mustRun(t, "transcribe", "-model", w2v, "-format", "srt,vtt,json,verbose_json,text", "-output-dir", outDir, in)
	for _, base := range []string{"one", "two"} {
		for _, ext := range []string{".srt", ".vtt", ".json", ".verbose.json", ".txt"} {
			b, err := os.ReadFile(filepath.Join(outDir, base+ext))
			if err != nil || len(b) == 0 {
				t.Errorf("%s%s: %v", base, ext, err)
			}
		}
	}
	single := mustRun(t, "transcribe", "-model", w2v, "-format", "vtt", jfk)
	if b, _ := os.ReadFile(filepath.Join(outDir, "one.vtt")); string(b) != single {
		t.Errorf("one.vtt differs from the single-file output")
	}
	// Several inputs to one stream in json: JSON Lines naming each file.
	out := mustRun(t, "transcribe", "-model", w2v, "-format", "json", filepath.Join(in, "one.flac"), filepath.Join(in, "two.flac"))
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i, l := range lines {
		var v struct{ File, Text string }
		if err := json.Unmarshal([]byte(l), &v); err != nil || !strings.HasSuffix(v.File, []string{"one.flac", "two.flac"}[i]) || v.Text == "" {
			t.Errorf("line %d: %q (%v)", i, l, err)
		}
	}
	if len(lines) != 2 {
		t.Errorf("%d lines, want 2", len(lines))
	}
	for _, args := range [][]string{
		{"-format", "srt,vtt"},                // several formats without -output-dir
		{"-format", "srt", jfk},               // subtitles of two inputs to one stream
		{"-format", "pdf", "-output-dir", in}, // unknown format
	} {
		if _, stderr, code := runCLI(t, append(append([]string{"transcribe", "-model", w2v}, args...), jfk)...); code != exitUsage {
			t.Errorf("%v: exit %d (%s)", args, code, stderr)
		}
	}
}

func TestFlagsCheckedBeforeLoading(t *testing.T) {
	jfk := testdata.Path(t, "media", "audio", "jfk.flac")
	missing := "./no/such/model" // loading it would fail with exit 1
	for _, c := range []struct {
		args []string
		flag string
	}{
		{[]string{"transcribe", "-model", missing, "-beam", "-3", jfk}, "-beam"},
		{[]string{"transcribe", "-model", missing, "-temperature", "5", jfk}, "-temperature"},
		{[]string{"transcribe", "-model", missing, "-language", "xx", jfk}, "-language"},
		{[]string{"caption", "-model", missing, "-beam", "500", jfk}, "-beam"},
		{[]string{"caption", "-model", missing, "-max-tokens", "-1", jfk}, "-max-tokens"},
		{[]string{"classify", "-model", missing, "-k", "-1", jfk}, "-k"},
	} {
		_, stderr, code := runCLI(t, c.args...)
		if code != exitUsage || !strings.Contains(stderr, c.flag) || strings.Contains(stderr, "jfk.flac") {
			t.Errorf("%v: exit %d, stderr %q; want %d naming %s and not the input", c.args, code, stderr, exitUsage, c.flag)
		}
	}
	// Options a family cannot honour are refused once the model is known,
	// before any input, naming the flag.
	w2v := fixtureModel(t, "wav2vec2")
	for _, c := range []struct {
		args []string
		flag string
	}{
		{[]string{"-language", "fr"}, "-language"},
		{[]string{"-prompt", "hello"}, "-prompt"},
		{[]string{"-temperature", "0.5"}, "-temperature"},
		{[]string{"-beam", "4"}, "-beam"},
	} {
		wantUsage(t, c.flag, append(append([]string{"transcribe", "-model", w2v}, c.args...), jfk)...)
	}
	if out := mustRun(t, "transcribe", "-model", w2v, "-language", "en", "-fallback", "0", jfk); strings.TrimSpace(out) == "" {
		t.Error("wav2vec2 -language en: no transcript")
	}
}

func TestTranscribeHubert(t *testing.T) {
	// HuBERT checkpoints go through the same command as wav2vec2.
	var cases struct {
		Audio, Text string
	}
	testdata.Cases(t, "hubert", &cases)
	out := mustRun(t, "transcribe", "-model", fixtureModel(t, "hubert"), testdata.Path(t, "media", "audio", cases.Audio))
	if got := strings.TrimSpace(out); got != cases.Text {
		t.Errorf("hubert transcript %q, want %q", got, cases.Text)
	}
}

func TestSearchIndexKnowsItsFolder(t *testing.T) {
	clipDir := fixtureModel(t, "clip")
	a, b := t.TempDir(), t.TempDir()
	linkInto(t, a, map[string]string{"cat.png": imagePath(t, "chelsea.png"), "coffee.png": imagePath(t, "coffee.png")})
	linkInto(t, b, map[string]string{"rocket.jpg": imagePath(t, "rocket.jpg")})
	idx := filepath.Join(t.TempDir(), "a.idx")
	mustRun(t, "search", "-model", clipDir, "-dir", a, "-index", idx)
	// The same index with another folder is refused, not searched.
	_, stderr, code := runCLI(t, "search", "-model", clipDir, "-dir", b, "-index", idx, "a rocket")
	if code != exitError || !strings.Contains(stderr, "another folder") {
		t.Errorf("index of another folder: exit %d, %q", code, stderr)
	}
	// A new file in the folder is embedded on the next search; results
	// name files by absolute path.
	linkInto(t, a, map[string]string{"astronaut.png": imagePath(t, "astronaut.png")})
	out, stderr, code := runCLI(t, "search", "-model", clipDir, "-dir", a, "-index", idx, "-k", "0", "-format", "json", "an astronaut")
	if code != exitOK || !strings.Contains(stderr, "1 added") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	var matches []struct{ ID string }
	if err := json.Unmarshal([]byte(out), &matches); err != nil || len(matches) != 3 {
		t.Fatalf("%q (%v)", out, err)
	}
	for _, m := range matches {
		if !filepath.IsAbs(m.ID) {
			t.Errorf("match %q is not an absolute path", m.ID)
		}
	}
}

func TestTranscribeShortWAVWarns(t *testing.T) {
	// A WAV whose data chunk claims more than the file holds is decoded as
	// far as it goes, with a warning on standard error.
	pcm := make([]float32, 16000)
	wav := testdata.WAV16(pcm, 16000)
	wav = wav[:len(wav)-8000]
	path := filepath.Join(t.TempDir(), "short.wav")
	if err := os.WriteFile(path, wav, 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runCLI(t, "transcribe", "-model", fixtureModel(t, "wav2vec2"), path)
	if code != exitOK || !strings.Contains(stderr, "warning") || !strings.Contains(stderr, "short.wav") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}
