package goformer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

// TestMain leaves the examples out when the shared fixtures they load are
// absent (tests skip then, or fail under CI=true, through testdata.Dir).
func TestMain(m *testing.M) {
	flag.Parse()
	if _, ok := testdata.Root(); !ok && os.Getenv("CI") != "true" {
		if f := flag.Lookup("test.run"); f != nil && f.Value.String() == "" {
			flag.Set("test.run", "^Test")
		}
	}
	os.Exit(m.Run())
}

func TestDetect(t *testing.T) {
	// architectures[0] decides before model_type; an unknown one is an
	// error naming it and the supported ones.
	dir := t.TempDir()
	write := func(cfg string) {
		if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct{ cfg, fam, arch string }{
		{`{"architectures": ["WhisperForConditionalGeneration"], "model_type": "whisper"}`, "whisper", "WhisperForConditionalGeneration"},
		{`{"architectures": ["BlipForQuestionAnswering"], "model_type": "blip"}`, "blip", "BlipForQuestionAnswering"},
		{`{"model_type": "vision-encoder-decoder"}`, "vit-gpt2", "vision-encoder-decoder"},
		{`{"architectures": null, "model_type": "wav2vec2"}`, "wav2vec2", "wav2vec2"},
		{`{"architectures": ["CLIPModel"]}`, "clip", "CLIPModel"},
		{`{"architectures": ["ViTForImageClassification"]}`, "vit", "ViTForImageClassification"},
	}
	for _, c := range cases {
		write(c.cfg)
		f, arch, err := detect(dir)
		if err != nil || f.Name != c.fam || arch != c.arch {
			t.Errorf("%s: got %q %q %v, want %q %q", c.cfg, f.Name, arch, err, c.fam, c.arch)
		}
	}
	for _, cfg := range []string{
		`{"architectures": ["BertForMaskedLM"], "model_type": "bert"}`,
		`{"architectures": ["WhisperForAudioClassification"], "model_type": "whisper"}`,
		`{"model_type": "gptj"}`,
		`{}`,
	} {
		write(cfg)
		_, _, err := detect(dir)
		if !errors.Is(err, ErrUnsupportedArchitecture) {
			t.Errorf("%s: error %v, want ErrUnsupportedArchitecture", cfg, err)
		}
		if cfg != `{}` && !strings.Contains(err.Error(), "WhisperForConditionalGeneration") {
			t.Errorf("%s: error %q does not list the supported architectures", cfg, err)
		}
	}
	write(`{"architectures": ["BertForMaskedLM"]`)
	if _, err := Load(context.Background(), dir); !errors.Is(err, nn.ErrConfig) {
		t.Errorf("malformed config.json: %v", err)
	}
	if _, err := Load(context.Background(), filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing folder: %v", err)
	}
}

// archFixtures names, for every registered architecture, the fixture whose
// weights it is tested on (the fixtures' config.json files name only a
// model_type; the test writes the architecture in).
var archFixtures = map[string]string{
	"ViTForImageClassification":       "vit",
	"ViTModel":                        "vit",
	"CLIPModel":                       "clip",
	"WhisperForConditionalGeneration": "whisper",
	"BlipForConditionalGeneration":    "blip-caption",
	"BlipForQuestionAnswering":        "blip-vqa",
	"Blip2ForConditionalGeneration":   "blip2",
	"VisionEncoderDecoderModel":       "vit-gpt2",
	"Wav2Vec2ForCTC":                  "wav2vec2",
	"HubertForCTC":                    "hubert",
	"LlavaForConditionalGeneration":   "llava",
}

// withArchitecture returns a copy of a model folder (files linked) whose
// config.json names arch.
func withArchitecture(t *testing.T, src, arch string) string {
	dir := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == "config.json" {
			continue
		}
		if err := os.Symlink(filepath.Join(src, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(filepath.Join(src, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["architectures"] = []string{arch}
	raw, _ = json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestRegistry walks the registry: every registered architecture loads its
// fixture through Load, reports itself in Info, implements Close and the
// interface of every task it advertises, and answers bad input with an
// error matching ErrInput.
func TestRegistry(t *testing.T) {
	fams := Families()
	if len(fams) < 6 {
		t.Fatalf("%d families registered, want every built-in one", len(fams))
	}
	ctx := context.Background()
	for _, f := range fams {
		for _, arch := range f.Architectures {
			t.Run(arch, func(t *testing.T) {
				name, ok := archFixtures[arch]
				if !ok {
					t.Fatalf("no fixture named for %s in archFixtures", arch)
				}
				dir := withArchitecture(t, filepath.Join(testdata.Fixture(t, name), "model"), arch)
				m, err := Load(ctx, dir)
				if err != nil {
					t.Fatal(err)
				}
				info := m.Info()
				if info.Family != f.Name || info.Architecture != arch || info.Path != dir {
					t.Errorf("Info %+v, want family %s, architecture %s, path %s", info, f.Name, arch, dir)
				}
				for _, tk := range info.Tasks {
					if !contains(f.Tasks, tk) {
						t.Errorf("task %s not among the family's %v", tk, f.Tasks)
					}
					checkTask(t, m, tk)
				}
				if err := m.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
				if err := m.Close(); err != nil {
					t.Errorf("second Close: %v", err)
				}
			})
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// checkTask asserts that m implements task tk and refuses bad input for it
// with ErrInput.
func checkTask(t *testing.T, m Model, tk string) {
	t.Helper()
	ctx := context.Background()
	empty := image.NewRGBA(image.Rect(0, 0, 0, 0))
	var err error
	switch tk {
	case TaskClassify:
		c, ok := m.(Classifier)
		if !ok {
			t.Fatalf("advertises %s but is no Classifier", tk)
		}
		_, err = c.Classify(ctx, empty, ClassifyOptions{})
	case TaskZeroShot:
		z, ok := m.(ZeroShotClassifier)
		if !ok {
			t.Fatalf("advertises %s but is no ZeroShotClassifier", tk)
		}
		_, err = z.ZeroShot(ctx, image.NewRGBA(image.Rect(0, 0, 8, 8)), nil, ZeroShotOptions{})
	case TaskEmbed:
		e, ok := m.(Embedder)
		if !ok {
			t.Fatalf("advertises %s but is no Embedder", tk)
		}
		_, err = e.EmbedImages(ctx, []image.Image{empty})
	case TaskSearch:
		s, ok := m.(Searcher)
		if !ok {
			t.Fatalf("advertises %s but is no Searcher", tk)
		}
		_, err = s.LoadIndex(filepath.Join(t.TempDir(), "missing.idx"))
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("LoadIndex of a missing file: %v", err)
		}
		return
	case TaskCaption:
		c, ok := m.(Captioner)
		if !ok {
			t.Fatalf("advertises %s but is no Captioner", tk)
		}
		_, err = c.Caption(ctx, image.NewRGBA(image.Rect(0, 0, 8, 8)), CaptionOptions{Beams: -1})
	case TaskVQA:
		a, ok := m.(Answerer)
		if !ok {
			t.Fatalf("advertises %s but is no Answerer", tk)
		}
		_, err = a.Answer(ctx, image.NewRGBA(image.Rect(0, 0, 8, 8)), " ", AnswerOptions{})
	case TaskChat:
		c, ok := m.(Chatter)
		if !ok {
			t.Fatalf("advertises %s but is no Chatter", tk)
		}
		_, err = c.Chat(ctx, []Message{{Role: RoleAssistant, Text: "hello"}}, ChatOptions{})
	case TaskTranscribe, TaskTranslate:
		tr, ok := m.(Transcriber)
		if !ok {
			t.Fatalf("advertises %s but is no Transcriber", tk)
		}
		if tr.SampleRate() <= 0 {
			t.Errorf("sample rate %d", tr.SampleRate())
		}
		_, err = tr.Transcribe(ctx, make([]float32, 1600), TranscribeOptions{Task: tk, Beams: -2})
	default:
		t.Fatalf("unknown task %s", tk)
	}
	if !errors.Is(err, ErrInput) {
		t.Errorf("%s with bad input: error %v, want one matching ErrInput", tk, err)
	}
}

func TestDefaultModels(t *testing.T) {
	var tasks []string
	for _, f := range Families() {
		tasks = append(tasks, f.Tasks...)
	}
	sort.Strings(tasks)
	for _, tk := range tasks {
		if DefaultModel(tk) == "" {
			t.Errorf("no default model for %s", tk)
		}
	}
}

// TestDecodeImageFile decodes a written PNG and names the file in the
// error for one that is no image.
func TestDecodeImageFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "q.png")
	var buf bytes.Buffer
	if err := png.Encode(&buf, testdata.Quadrants()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(good, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	img, err := DecodeImageFile(good)
	if err != nil || img.Bounds().Dx() != 32 || img.Bounds().Dy() != 16 {
		t.Fatalf("DecodeImageFile(png) = %v, %v", img, err)
	}
	bad := filepath.Join(dir, "notes.png")
	if err := os.WriteFile(bad, []byte("not an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeImageFile(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("DecodeImageFile(not an image) = %v, want an error naming the file", err)
	}
	if _, err := DecodeImageFile(filepath.Join(dir, "missing.png")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("DecodeImageFile(missing) = %v, want os.ErrNotExist", err)
	}
}

// TestLoadAs loads a model as the interface of a task it does, and refuses
// one it does not do (by its interface or by its Info), naming what it does.
func TestLoadAs(t *testing.T) {
	ctx := context.Background()
	vqa := filepath.Join(testdata.Fixture(t, "blip-vqa"), "model")
	a, m, err := LoadAs[Answerer](ctx, vqa)
	if err != nil {
		t.Fatal(err)
	}
	if a == nil || m == nil || !m.Info().Does(TaskVQA) {
		t.Errorf("LoadAs[Answerer]: %v, %v", a, m)
	}
	if err := m.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	for _, c := range []struct {
		dir  string
		load func(dir string) (Model, error)
		want []string // in the error
	}{
		// A BLIP question-answering checkpoint does not caption.
		{vqa, func(dir string) (Model, error) { _, m, err := LoadAs[Captioner](ctx, dir); return m, err }, []string{"does vqa", "not caption"}},
		// A ViTModel has no classification head: its Info lists no task.
		{withArchitecture(t, filepath.Join(testdata.Fixture(t, "vit"), "model"), "ViTModel"),
			func(dir string) (Model, error) { _, m, err := LoadAs[Classifier](ctx, dir); return m, err }, []string{"does no task", "not classify"}},
		// An interface of no task is only asserted.
		{vqa, func(dir string) (Model, error) { _, m, err := LoadAs[OptionChecker](ctx, dir); return m, err }, []string{"not task.OptionChecker"}},
	} {
		m, err := c.load(c.dir)
		if !errors.Is(err, ErrUnsupported) || m != nil {
			t.Errorf("%s: %v, %v; want no model and an error matching ErrUnsupported", c.dir, m, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", c.dir, err, w)
			}
		}
	}
	if _, _, err := LoadAs[Chatter](ctx, filepath.Join(t.TempDir(), "missing")); err == nil || errors.Is(err, ErrUnsupported) {
		t.Errorf("missing model: %v, want Load's error", err)
	}
}

// TestWithSelfKVType loads Whisper with 16-bit self-attention caches
// through the front door, and refuses a type caches cannot take.
func TestWithSelfKVType(t *testing.T) {
	dir := testdata.Path(t, "fixtures", "whisper", "model")
	m, err := Load(context.Background(), dir, WithSelfKVType(tensor.WeightF16))
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	if _, err := Load(context.Background(), dir, WithSelfKVType(tensor.WeightQ8)); err == nil {
		t.Error("WithSelfKVType(WeightQ8) loaded")
	}
}
