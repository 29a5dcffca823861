// Package examples_test builds every example program and runs it against the
// shared fixtures (small models with random weights), checking its exit
// status and the shape of its output, and its answers where the fixtures
// record them.
package examples_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/goformer/goformer/internal/testdata"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
	buildOut  []byte
)

// build compiles all examples once, into one temporary directory.
func build(t *testing.T) string {
	t.Helper()
	testdata.Dir(t) // skip before building when the fixtures are absent
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "goformer-examples-")
		if buildErr != nil {
			return
		}
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		cmd := exec.Command(goTool, "build", "-o", binDir+string(filepath.Separator), "./...")
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("building the examples: %v\n%s", buildErr, buildOut)
	}
	return binDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// example runs one example program and returns its standard output.
func example(t *testing.T, name string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(filepath.Join(build(t), name), args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

func model(t *testing.T, fixture string) string {
	return filepath.Join(testdata.Fixture(t, fixture), "model")
}

func img(t *testing.T, name string) string { return testdata.Path(t, "media", "images", name) }

func cases(t *testing.T, fixture string, v any) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testdata.Fixture(t, fixture), "cases.json"))
	if err == nil {
		err = json.Unmarshal(raw, v)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestClassify(t *testing.T) {
	var c struct {
		Images []string `json:"images"`
		Top3   [][]struct{ Label string }
	}
	cases(t, "vit", &c)
	out := example(t, "classify", "-model", model(t, "vit"), "-k", "3", img(t, c.Images[0]))
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasSuffix(lines[1], "  "+c.Top3[0][0].Label) {
		t.Errorf("output %q, want the image then 3 labels starting with %q", out, c.Top3[0][0].Label)
	}
}

func TestZeroShot(t *testing.T) {
	var c struct {
		Images   []string `json:"images"`
		ZeroShot struct {
			Labels []string    `json:"labels"`
			Probs  [][]float64 `json:"probs"`
		} `json:"zero_shot"`
	}
	cases(t, "clip", &c)
	out := example(t, "zeroshot", "-model", model(t, "clip"), "-labels", strings.Join(c.ZeroShot.Labels, ","), img(t, c.Images[0]))
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(c.ZeroShot.Labels) {
		t.Fatalf("output %q, want %d labels", out, len(c.ZeroShot.Labels))
	}
	for _, line := range lines {
		p, label, _ := strings.Cut(line, "  ")
		prob, err := strconv.ParseFloat(p, 64)
		for j, l := range c.ZeroShot.Labels {
			if l == label && (err != nil || abs(prob-c.ZeroShot.Probs[0][j]) > 1e-4) {
				t.Errorf("%q: %s, want %.4f", label, p, c.ZeroShot.Probs[0][j])
			}
		}
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func TestTranscribe(t *testing.T) {
	jfk := testdata.Path(t, "media", "audio", "jfk.flac")
	out := example(t, "transcribe", "-model", model(t, "whisper"), "-language", "en", "-greedy", jfk)
	if !strings.HasPrefix(out, "[en] ") {
		t.Errorf("text output %q", out)
	}
	out = example(t, "transcribe", "-model", model(t, "whisper"), "-language", "en", "-greedy", "-srt", jfk)
	if !strings.HasPrefix(out, "1\n00:00:") || !strings.Contains(out, " --> ") {
		t.Errorf("srt output %q", out)
	}
}

type gen struct {
	Image    string `json:"image"`
	Question string `json:"question"`
	IDs      []int  `json:"ids"`
	Text     string `json:"text"`
	Answer   string `json:"answer"`
}

func TestCaption(t *testing.T) {
	var c struct {
		Images        []string `json:"images"`
		Unconditional []gen    `json:"unconditional"`
	}
	cases(t, "blip-caption", &c)
	u := c.Unconditional[0]
	out := example(t, "caption", "-model", model(t, "blip-caption"), "-max-tokens", strconv.Itoa(len(u.IDs)-1), img(t, c.Images[0]))
	if want := img(t, c.Images[0]) + ": " + u.Text + "\n"; out != want {
		t.Errorf("output %q, want %q", out, want)
	}
}

func TestVQA(t *testing.T) {
	var c struct{ QA []gen }
	cases(t, "blip-vqa", &c)
	q := c.QA[0]
	out := example(t, "vqa", "-model", model(t, "blip-vqa"), "-question", q.Question, "-max-tokens", strconv.Itoa(len(q.IDs)-1), img(t, q.Image))
	if out != q.Answer+"\n" {
		t.Errorf("answer %q, want %q", out, q.Answer)
	}
}

func TestSearch(t *testing.T) {
	var c struct{ Images, Texts []string }
	cases(t, "clip", &c)
	dir := t.TempDir()
	for _, name := range c.Images {
		data, err := os.ReadFile(img(t, name))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, name), data, 0o644)
	}
	index := filepath.Join(t.TempDir(), "images.idx")
	first := example(t, "search", "-model", model(t, "clip"), "-dir", dir, "-index", index, "-k", "2", c.Texts[0])
	lines := strings.Split(strings.TrimSpace(first), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], dir) {
		t.Fatalf("output %q, want 2 images of %s", first, dir)
	}
	if _, err := os.Stat(index); err != nil {
		t.Fatalf("index not saved: %v", err)
	}
	// The saved index gives the same answer.
	if again := example(t, "search", "-model", model(t, "clip"), "-dir", dir, "-index", index, "-k", "2", c.Texts[0]); again != first {
		t.Errorf("from the saved index %q, first %q", again, first)
	}
	// An index of another folder is refused, naming both folders.
	other := t.TempDir()
	cmd := exec.Command(filepath.Join(build(t), "search"), "-model", model(t, "clip"), "-dir", other, "-index", index, c.Texts[0])
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), dir) || !strings.Contains(string(out), other) {
		t.Errorf("another folder with the saved index: %v, output %q; want a refusal naming %s and %s", err, out, dir, other)
	}
	// A deleted image leaves the index when it is next used.
	top := strings.Fields(lines[0])[1]
	if err := os.Remove(top); err != nil {
		t.Fatal(err)
	}
	if again := example(t, "search", "-model", model(t, "clip"), "-dir", dir, "-index", index, "-k", "2", c.Texts[0]); strings.Contains(again, top) {
		t.Errorf("after deleting %s: %q still lists it", top, again)
	}
}

func TestChat(t *testing.T) {
	var c struct {
		Generate struct {
			MaxNewTokens int `json:"max_new_tokens"`
		} `json:"generate"`
		Cases []struct {
			Image, Prompt, Text string
		} `json:"cases"`
	}
	cases(t, "llava", &c)
	if len(c.Cases) == 0 {
		testdata.Missing(t, "llava generation cases")
	}
	first := c.Cases[0]
	question, ok := strings.CutPrefix(first.Prompt, "USER: <image>\n")
	question, ok2 := strings.CutSuffix(question, " ASSISTANT:")
	if !ok || !ok2 {
		testdata.Missing(t, "a llava case whose prompt is one chat turn (got %q)", first.Prompt)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(filepath.Join(build(t), "chat"), "-model", model(t, "llava"),
		"-max-tokens", strconv.Itoa(c.Generate.MaxNewTokens), img(t, first.Image))
	cmd.Stdin = strings.NewReader(question + "\n\nAnd then?\n")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chat: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimRight(stdout.String(), "\n"), "\n")
	if len(lines) != 2 || lines[0] != first.Text || lines[1] == "" {
		t.Errorf("answers %q, want two, the first %q", lines, first.Text)
	}
}
