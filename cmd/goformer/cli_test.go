package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/goformer/goformer"
	"github.com/goformer/goformer/clip"
	"github.com/goformer/goformer/internal/expected"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/transcript"
	"github.com/goformer/goformer/whisper"
)

// Tolerances of shared/README: logits, embeddings and probabilities.
const tol = 1e-4

// runCLI runs the command in-process.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), code
}

// mustRun runs the command and fails the test unless it exits 0.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, errs, code := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("goformer %s: exit %d, stderr %q", strings.Join(args, " "), code, errs)
	}
	return out
}

// wantUsage runs the command and reports an error unless it exits with
// exitUsage and stderr names want.
func wantUsage(t *testing.T, want string, args ...string) {
	t.Helper()
	if _, stderr, code := runCLI(t, args...); code != exitUsage || !strings.Contains(stderr, want) {
		t.Errorf("goformer %s: exit %d, stderr %q; want %d naming %s", strings.Join(args, " "), code, stderr, exitUsage, want)
	}
}

func fixtureModel(t *testing.T, name string) string {
	t.Helper()
	return filepath.Join(testdata.Fixture(t, name), "model")
}

func imagePath(t *testing.T, name string) string {
	t.Helper()
	return testdata.Path(t, "media", "images", name)
}

// oneErrorLine checks that a failed command wrote exactly one line to
// stderr, naming want, and no panic trace.
func oneErrorLine(t *testing.T, stderr string, want ...string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	if len(lines) != 1 || stderr == "" {
		t.Fatalf("stderr has %d lines, want one: %q", len(lines), stderr)
	}
	for _, w := range want {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr %q does not name %q", stderr, w)
		}
	}
	if strings.Contains(stderr, "goroutine") || strings.Contains(stderr, "panic") {
		t.Errorf("stderr looks like a panic: %q", stderr)
	}
}

func TestDispatch(t *testing.T) {
	want := map[string]string{ // fixture → tasks of the implementation config.json chooses
		"vit":            "classify",
		"clip":           "zeroshot,embed,search",
		"whisper":        "transcribe,translate",
		"whisper-openai": "transcribe,translate",
		"blip-caption":   "caption",
		"blip-vqa":       "vqa",
		"vit-gpt2":       "caption",
		"wav2vec2":       "transcribe",
	}
	for fixture, tasks := range want {
		t.Run(fixture, func(t *testing.T) {
			m, err := loadPath(fixtureModel(t, fixture), "")
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if got := strings.Join(m.Tasks(), ","); got != tasks {
				t.Errorf("tasks %s (family %s, arch %s), want %s", got, m.Family(), m.Arch(), tasks)
			}
		})
	}
}

func TestDispatchArchitectures(t *testing.T) {
	// The registry's choice is tested in package goformer; here an unknown
	// architecture is one error line naming it.
	dir := t.TempDir()
	write := func(cfg string) {
		if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"architectures": ["BertForMaskedLM"], "model_type": "bert"}`)
	_, stderr, code := runCLI(t, "classify", "-model", dir, imagePath(t, "chelsea.png"))
	if code != exitError {
		t.Errorf("exit %d, want %d", code, exitError)
	}
	oneErrorLine(t, stderr, "BertForMaskedLM", "unsupported")
}

// vitCases is the part of fixtures/vit/cases.json the CLI tests read.
type vitCases struct {
	Images []string       `json:"images"`
	Top3   [][]vitPredict `json:"top3"`
}

// vitPredict is one of the fixture's top-3 predictions of an image.
type vitPredict struct {
	Label string  `json:"label"`
	Score float64 `json:"score"`
}

func readViTCases(t *testing.T) vitCases {
	t.Helper()
	var c vitCases
	testdata.Cases(t, "vit", &c)
	return c
}

// checkTop3 compares got's predictions with want, the fixture's top 3 of
// an image: every score within tol, and the labels too when labels is set.
// name says which image or run it was. It returns the largest score
// difference.
func checkTop3(t *testing.T, name string, want []vitPredict, got Classification, tol float64, labels bool) float64 {
	t.Helper()
	if len(got.Predictions) < len(want) {
		t.Fatalf("%s: %d predictions, want %d", name, len(got.Predictions), len(want))
	}
	var d float64
	for j, w := range want {
		p := got.Predictions[j]
		d = math.Max(d, math.Abs(float64(p.Score)-w.Score))
		if (labels && p.Label != w.Label) || math.Abs(float64(p.Score)-w.Score) > tol {
			t.Errorf("%s #%d: %s %.6f, want %s %.6f ± %g", name, j, p.Label, p.Score, w.Label, w.Score, tol)
		}
	}
	return d
}

func TestClassify(t *testing.T) {
	cases := readViTCases(t)
	args := []string{"classify", "-model", fixtureModel(t, "vit"), "-k", "3", "-format", "json"}
	for _, name := range cases.Images {
		args = append(args, imagePath(t, name))
	}
	var got []Classification
	if err := json.Unmarshal([]byte(mustRun(t, args...)), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(cases.Images) {
		t.Fatalf("%d results for %d images", len(got), len(cases.Images))
	}
	maxD := 0.0
	defer func() { t.Logf("top-3 scores: max|Δ| %.3g over %d images", maxD, len(cases.Images)) }()
	for i, want := range cases.Top3 {
		if len(got[i].Predictions) != len(want) {
			t.Fatalf("%s: %d predictions, want %d", cases.Images[i], len(got[i].Predictions), len(want))
		}
		maxD = math.Max(maxD, checkTop3(t, cases.Images[i], want, got[i], tol, true))
	}
	// The text format shows the same labels, best first.
	out := mustRun(t, "classify", "-model", fixtureModel(t, "vit"), "-k", "3", imagePath(t, cases.Images[0]))
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasSuffix(lines[0], "  "+cases.Top3[0][0].Label) {
		t.Errorf("text output %q", out)
	}
}

// zeroShotCases is the part of fixtures/clip/cases.json the zero-shot
// tests read.
type zeroShotCases struct {
	Images   []string `json:"images"`
	ZeroShot struct {
		Labels []string    `json:"labels"`
		Probs  [][]float64 `json:"probs"`
	} `json:"zero_shot"`
}

func readZeroShotCases(t *testing.T) zeroShotCases {
	t.Helper()
	var c zeroShotCases
	testdata.Cases(t, "clip", &c)
	return c
}

// check compares got with the fixture's probabilities of image i: every
// label present, within tol. It returns the largest difference.
func (c zeroShotCases) check(t *testing.T, i int, got ZeroShotResult) float64 {
	t.Helper()
	var maxD float64
	for j, label := range c.ZeroShot.Labels {
		want := c.ZeroShot.Probs[i][j]
		found := false
		for _, s := range got.Labels {
			if s.Label == label {
				found = true
				d := math.Abs(float64(s.Probability) - want)
				maxD = math.Max(maxD, d)
				if d > tol {
					t.Errorf("%s %q: %.6f, want %.6f", c.Images[i], label, s.Probability, want)
				}
			}
		}
		if !found {
			t.Errorf("%s: no %q in %+v", c.Images[i], label, got.Labels)
		}
	}
	return maxD
}

func TestZeroShot(t *testing.T) {
	cases := readZeroShotCases(t)
	args := []string{"zeroshot", "-model", fixtureModel(t, "clip"), "-format", "json", "-labels", strings.Join(cases.ZeroShot.Labels, ",")}
	for _, name := range cases.Images {
		args = append(args, imagePath(t, name))
	}
	var got []ZeroShotResult
	if err := json.Unmarshal([]byte(mustRun(t, args...)), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(cases.Images) {
		t.Fatalf("%d results for %d images", len(got), len(cases.Images))
	}
	maxD := 0.0
	defer func() { t.Logf("zero-shot probabilities: max|Δ| %.3g", maxD) }()
	for i := range cases.ZeroShot.Probs {
		maxD = math.Max(maxD, cases.check(t, i, got[i]))
		if !sort.SliceIsSorted(got[i].Labels, func(a, b int) bool { return got[i].Labels[a].Probability > got[i].Labels[b].Probability }) {
			t.Errorf("%s: labels not sorted by probability", cases.Images[i])
		}
	}
	_, stderr, code := runCLI(t, "zeroshot", "-model", fixtureModel(t, "clip"), imagePath(t, "chelsea.png"))
	if code != exitUsage {
		t.Errorf("zeroshot without labels: exit %d", code)
	}
	oneErrorLine(t, stderr, "labels")
}

func TestEmbed(t *testing.T) {
	var cases struct {
		Images []string `json:"images"`
		Texts  []string `json:"texts"`
	}
	testdata.Cases(t, "clip", &cases)
	textEmbeds := expected.Tensor(t, "clip", "text_embeds")
	imageEmbeds := expected.Tensor(t, "clip", "image_embeds")
	args := []string{"embed", "-model", fixtureModel(t, "clip")}
	for _, text := range cases.Texts {
		args = append(args, "-text", text)
	}
	for _, name := range cases.Images {
		args = append(args, imagePath(t, name))
	}
	var got []Embedding
	if err := json.Unmarshal([]byte(mustRun(t, args...)), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(cases.Texts)+len(cases.Images) {
		t.Fatalf("%d embeddings, want %d", len(got), len(cases.Texts)+len(cases.Images))
	}
	worst := map[string]float64{}
	defer func() { t.Logf("embeddings: max|Δ| text %.3g, image %.3g", worst["text"], worst["image"]) }()
	check := func(e Embedding, want []float32, typ string) {
		t.Helper()
		if e.Type != typ || len(e.Embedding) != len(want) {
			t.Fatalf("%q: type %s, %d values; want %s, %d", e.Input, e.Type, len(e.Embedding), typ, len(want))
		}
		d := 0.0
		for i := range want {
			d = math.Max(d, math.Abs(float64(e.Embedding[i]-want[i])))
		}
		if d > tol {
			t.Errorf("%s %q: max|Δ| %.3g", typ, e.Input, d)
		}
		worst[typ] = math.Max(worst[typ], d)
	}
	dim := textEmbeds.Dim(1)
	td := textEmbeds.Contiguous().Data()
	id := imageEmbeds.Contiguous().Data()
	for i := range cases.Texts {
		check(got[i], td[i*dim:(i+1)*dim], "text")
	}
	for i := range cases.Images {
		check(got[len(cases.Texts)+i], id[i*dim:(i+1)*dim], "image")
	}
	out := mustRun(t, "embed", "-model", fixtureModel(t, "clip"), "-format", "text", "-text", "a cat")
	if f := strings.Split(strings.TrimSpace(out), "\t"); len(f) != 2 || f[0] != "a cat" || len(strings.Fields(f[1])) != dim {
		t.Errorf("text format %q", out)
	}
}

func TestSearch(t *testing.T) {
	var cases struct {
		Images []string `json:"images"`
		Texts  []string `json:"texts"`
	}
	testdata.Cases(t, "clip", &cases)
	dir := t.TempDir()
	for _, name := range append(append([]string{}, cases.Images...), "truncated.jpg") {
		data, err := os.ReadFile(imagePath(t, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	idx := filepath.Join(t.TempDir(), "photos.idx")
	query := cases.Texts[0]
	// First run: index the folder (skipping the truncated JPEG with a
	// warning), save the index, answer the query.
	out, stderr, code := runCLI(t, "search", "-model", fixtureModel(t, "clip"), "-dir", dir, "-index", idx, "-k", "0", "-format", "json", query)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "skipping") || !strings.Contains(stderr, "truncated.jpg") {
		t.Errorf("no warning about truncated.jpg: %q", stderr)
	}
	var first []clip.Match
	if err := json.Unmarshal([]byte(out), &first); err != nil {
		t.Fatal(err)
	}
	if len(first) != len(cases.Images) {
		t.Fatalf("%d matches, want %d (the images less the truncated one)", len(first), len(cases.Images))
	}
	// The ranking is that of the cosine similarities computed directly.
	m, err := clip.Load(fixtureModel(t, "clip"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	q, err := m.EmbedTexts(context.Background(), []string{query})
	if err != nil {
		t.Fatal(err)
	}
	for _, mt := range first {
		img := loadImageFile(t, mt.ID)
		v, err := m.EmbedImages(context.Background(), []image.Image{img})
		if err != nil {
			t.Fatal(err)
		}
		var cos float64
		for i := range v[0] {
			cos += float64(v[0][i]) * float64(q[0][i])
		}
		if math.Abs(cos-float64(mt.Score)) > tol {
			t.Errorf("%s: score %.6f, direct cosine %.6f", mt.ID, mt.Score, cos)
		}
	}
	for i := 1; i < len(first); i++ {
		if first[i].Score > first[i-1].Score {
			t.Errorf("matches not sorted: %v", first)
		}
	}
	// Second run: the saved index answers without -dir.
	out = mustRun(t, "search", "-model", fixtureModel(t, "clip"), "-index", idx, "-k", "0", "-format", "json", query)
	var second []clip.Match
	if err := json.Unmarshal([]byte(out), &second); err != nil {
		t.Fatal(err)
	}
	if len(second) != len(first) {
		t.Fatalf("saved index gives %d matches, want %d", len(second), len(first))
	}
	for i := range first {
		if first[i].ID != second[i].ID || math.Abs(float64(first[i].Score-second[i].Score)) > 1e-6 {
			t.Errorf("#%d: %v from the saved index, %v when built", i, second[i], first[i])
		}
	}
	// An image query finds the image itself first.
	out = mustRun(t, "search", "-model", fixtureModel(t, "clip"), "-index", idx, "-k", "1", "-image", filepath.Join(dir, cases.Images[1]))
	if !strings.HasSuffix(strings.TrimSpace(out), cases.Images[1]) {
		t.Errorf("image query: %q, want %s first", out, cases.Images[1])
	}
	_, stderr, code = runCLI(t, "search", "-model", fixtureModel(t, "clip"), "-index", filepath.Join(dir, "missing.idx"), "cat")
	if code != exitError {
		t.Errorf("missing index: exit %d", code)
	}
	oneErrorLine(t, stderr, "missing.idx")
}

type genCase struct {
	Image     string `json:"image"`
	Question  string `json:"question"`
	PromptIDs []int  `json:"prompt_ids"`
	IDs       []int  `json:"ids"`
	Text      string `json:"text"`
	Answer    string `json:"answer"`
}

// maxTokens is the number of tokens a fixture's generation produced after
// its prompt: [DEC] or the decoder start token, and any prefix.
func (c genCase) maxTokens() int {
	prompt := 1
	if len(c.PromptIDs) > 0 {
		prompt = len(c.PromptIDs) - 1 // [CLS] → [DEC], [SEP] dropped
	}
	return len(c.IDs) - prompt
}

func TestCaptionBLIP(t *testing.T) {
	var cases struct {
		Images        []string  `json:"images"`
		Prefix        string    `json:"prefix"`
		Unconditional []genCase `json:"unconditional"`
		Conditional   []genCase `json:"conditional"`
		Beam3         []genCase `json:"unconditional_beam3"`
	}
	testdata.Cases(t, "blip-caption", &cases)
	dir := fixtureModel(t, "blip-caption")
	for i, name := range cases.Images {
		if i < len(cases.Unconditional) {
			c := cases.Unconditional[i]
			got := strings.TrimSpace(mustRun(t, "caption", "-model", dir, "-max-tokens", strconv.Itoa(c.maxTokens()), imagePath(t, name)))
			if got != c.Text {
				t.Errorf("%s: %q, want %q", name, got, c.Text)
			}
		}
		if i < len(cases.Conditional) {
			c := cases.Conditional[i]
			got := strings.TrimSpace(mustRun(t, "caption", "-model", dir, "-prompt", cases.Prefix, "-max-tokens", strconv.Itoa(c.maxTokens()), imagePath(t, name)))
			if got != c.Text {
				t.Errorf("%s with prefix: %q, want %q", name, got, c.Text)
			}
		}
		if i < len(cases.Beam3) {
			c := cases.Beam3[i]
			got := strings.TrimSpace(mustRun(t, "caption", "-model", dir, "-beam", "3", "-max-tokens", strconv.Itoa(c.maxTokens()), imagePath(t, name)))
			if got != c.Text {
				t.Errorf("%s with 3 beams: %q, want %q", name, got, c.Text)
			}
		}
	}
}

func TestCaptionViTGPT2(t *testing.T) {
	var cases struct {
		Captions []genCase `json:"captions"`
	}
	testdata.Cases(t, "vit-gpt2", &cases)
	args := []string{"caption", "-model", fixtureModel(t, "vit-gpt2"), "-format", "json"}
	// One call per length: every case's caption with its own token budget.
	for _, c := range cases.Captions {
		var got []CaptionResult
		out := mustRun(t, append(args, "-max-tokens", strconv.Itoa(c.maxTokens()), imagePath(t, c.Image))...)
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Text != strings.TrimSpace(c.Text) {
			t.Errorf("%s: %+v, want %q", c.Image, got, c.Text)
		}
	}
	_, stderr, code := runCLI(t, "caption", "-model", fixtureModel(t, "vit-gpt2"), "-prompt", "a photo of", imagePath(t, "chelsea.png"))
	if code != exitUsage {
		t.Errorf("prompt with vit-gpt2: exit %d, want %d (a flag the model cannot honour)", code, exitUsage)
	}
	oneErrorLine(t, stderr, "prompt")
}

func TestVQA(t *testing.T) {
	var cases struct {
		QA []genCase `json:"qa"`
	}
	testdata.Cases(t, "blip-vqa", &cases)
	for _, c := range cases.QA {
		max := len(c.IDs) - 1
		var got []AnswerResult
		out := mustRun(t, "vqa", "-model", fixtureModel(t, "blip-vqa"), "-format", "json", "-question", c.Question, "-max-tokens", strconv.Itoa(max), imagePath(t, c.Image))
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Answer != c.Answer || got[0].Question != c.Question {
			t.Errorf("%s %q: %+v, want %q", c.Image, c.Question, got, c.Answer)
		}
	}
	_, stderr, code := runCLI(t, "vqa", "-model", fixtureModel(t, "blip-vqa"), imagePath(t, "chelsea.png"))
	if code != exitUsage {
		t.Errorf("vqa without a question: exit %d", code)
	}
	oneErrorLine(t, stderr, "question")
}

func TestTranscribeWav2Vec2(t *testing.T) {
	var cases struct {
		Audio string `json:"audio"`
		Text  string `json:"text"`
	}
	testdata.Cases(t, "wav2vec2", &cases)
	audioPath := testdata.Path(t, "media", "audio", cases.Audio)
	got := strings.TrimSpace(mustRun(t, "transcribe", "-model", fixtureModel(t, "wav2vec2"), audioPath))
	if got != cases.Text {
		t.Errorf("transcript %q, want %q", got, cases.Text)
	}
	var v verboseTranscript
	out := mustRun(t, "transcribe", "-model", fixtureModel(t, "wav2vec2"), "-words", "-format", "verbose_json", audioPath)
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatal(err)
	}
	if v.Text != cases.Text || len(v.Segments) != 1 || len(v.Words) == 0 {
		t.Fatalf("verbose_json: text %q, %d segments, %d words", v.Text, len(v.Segments), len(v.Words))
	}
	var words []string
	for i, w := range v.Words {
		words = append(words, w.Word)
		if w.End < w.Start || (i > 0 && w.Start < v.Words[i-1].Start) || w.End > v.Duration+1e-9 {
			t.Errorf("word %d %+v out of order or beyond %.3f s", i, w, v.Duration)
		}
	}
	if strings.Join(words, " ") != strings.Join(strings.Fields(cases.Text), " ") {
		t.Errorf("words %q do not make the transcript %q", words, cases.Text)
	}
	_, stderr, code := runCLI(t, "transcribe", "-model", fixtureModel(t, "wav2vec2"), "-task", "translate", audioPath)
	if code != exitError {
		t.Errorf("translate with wav2vec2: exit %d", code)
	}
	oneErrorLine(t, stderr, "translate")
}

// openAIRun is one run of the whisper-openai fixture.
type openAIRun struct {
	Options  map[string]any    `json:"options"`
	Language string            `json:"language"`
	Text     string            `json:"text"`
	Segments []whisper.Segment `json:"segments"`
}

func TestTranscribeWhisperOpenAI(t *testing.T) {
	// OpenAI's transcribe() on the fixture's long audio, loaded from the
	// OpenAI-format checkpoint file, at temperature 0 without fallback as
	// the fixture was made.
	var cases struct {
		Audio string               `json:"audio"`
		Runs  map[string]openAIRun `json:"runs"`
	}
	testdata.Cases(t, "whisper-openai", &cases)
	fx := testdata.Fixture(t, "whisper-openai")
	audioPath := filepath.Join(fx, cases.Audio)
	if _, err := os.Stat(audioPath); err != nil {
		audioPath = testdata.Path(t, "media", "audio", cases.Audio)
	}
	want, ok := cases.Runs["greedy_timestamps"]
	if !ok {
		testdata.Missing(t, "no greedy_timestamps run in whisper-openai/cases.json")
	}
	args := []string{"transcribe", "-model", filepath.Join(fx, "model", "openai.pt"), "-fallback", "0", "-format", "verbose_json"}
	if lang, ok := want.Options["language"].(string); ok {
		args = append(args, "-language", lang)
	}
	var got verboseTranscript
	if err := json.Unmarshal([]byte(mustRun(t, append(args, audioPath)...)), &got); err != nil {
		t.Fatal(err)
	}
	if got.Text != strings.TrimSpace(want.Text) {
		t.Errorf("text %q, want %q", got.Text, want.Text)
	}
	if len(got.Segments) != len(want.Segments) {
		t.Fatalf("%d segments, want %d", len(got.Segments), len(want.Segments))
	}
	for i, w := range want.Segments {
		g := got.Segments[i]
		if g.Text != w.Text || g.Seek != w.Seek || math.Abs(g.Start-w.Start) > 1e-3 || math.Abs(g.End-w.End) > 1e-3 || !slices.Equal(g.Tokens, w.Tokens) {
			t.Errorf("segment %d: %+v, want %+v", i, g, w)
		}
	}
	if got.Language != "english" || got.Task != "transcribe" {
		t.Errorf("language %q task %q", got.Language, got.Task)
	}
}

func TestTranscribeFormats(t *testing.T) {
	// The CLI writes what writeTranscript makes of the model's result; every
	// format is checked against the segments and words of a Whisper result
	// and of a wav2vec2 result with word timestamps.
	audioPath := testdata.Path(t, "media", "audio", "jfk.flac")
	dir := fixtureModel(t, "whisper")
	outFile := filepath.Join(t.TempDir(), "out.vtt")
	mustRun(t, "transcribe", "-model", dir, "-language", "en", "-fallback", "0", "-format", "vtt", "-o", outFile, audioPath)
	vtt, err := os.ReadFile(outFile)
	if err != nil {
		t.Fatal(err)
	}
	m, err := loadPath(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	pcm, err := readAudioFile(audioPath, m.sampleRate())
	if err != nil {
		t.Fatal(err)
	}
	tr := mustTranscript(t, m, pcm, transcribeParams{Language: "en"})
	var want bytes.Buffer
	if err := transcript.WriteVTT(&want, tr); err != nil {
		t.Fatal(err)
	}
	if string(vtt) != want.String() {
		t.Errorf("CLI vtt:\n%s\nwant:\n%s", vtt, want.String())
	}
	t.Run("whisper", func(t *testing.T) { checkFormats(t, tr, "english", len(pcm)) })
	w2v, err := loadPath(fixtureModel(t, "wav2vec2"), "")
	if err != nil {
		t.Fatal(err)
	}
	defer w2v.Close()
	t.Run("wav2vec2 words", func(t *testing.T) {
		checkFormats(t, mustTranscript(t, w2v, pcm, transcribeParams{Words: true}), "", len(pcm))
	})
}

// checkFormats writes tr in every format and checks each against it.
func checkFormats(t *testing.T, tr *Transcript, language string, samples int) {
	t.Helper()
	out := map[string]string{}
	for _, format := range transcriptFormats {
		var buf bytes.Buffer
		if err := writeTranscript(&buf, tr, format, granularities{segments: true, words: true}); err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		out[format] = buf.String()
	}
	text := strings.TrimSpace(tr.Text)
	if out["text"] != text+"\n" {
		t.Errorf("text: %q", out["text"])
	}
	var js map[string]string
	if err := json.Unmarshal([]byte(out["json"]), &js); err != nil || js["text"] != text || len(js) != 1 {
		t.Errorf("json: %q (%v)", out["json"], err)
	}
	var v verboseTranscript
	if err := json.Unmarshal([]byte(out["verbose_json"]), &v); err != nil {
		t.Fatal(err)
	}
	if v.Text != text || len(v.Segments) != len(tr.Segments) || v.Language != language || math.Abs(v.Duration-float64(samples)/16000) > 1e-3 {
		t.Errorf("verbose_json: text %q, %d segments (want %d), language %q (want %q), duration %v",
			v.Text, len(v.Segments), len(tr.Segments), v.Language, language, v.Duration)
	}
	var words []goformer.Word
	for i, seg := range tr.Segments {
		words = append(words, seg.Words...)
		if g := v.Segments[i]; math.Abs(g.Start-seg.Start) > 1e-3 || math.Abs(g.End-seg.End) > 1e-3 || g.Text != seg.Text {
			t.Errorf("verbose_json segment %d: %+v, want %+v", i, g, seg)
		}
	}
	if len(v.Words) != len(words) || (tr.Words && len(words) == 0) {
		t.Errorf("verbose_json: %d words, want %d", len(v.Words), len(words))
	}
	for i := range min(len(words), len(v.Words)) {
		if v.Words[i].Word != strings.TrimSpace(words[i].Word) || math.Abs(v.Words[i].Start-words[i].Start) > 1e-3 {
			t.Errorf("word %d: %+v, want %+v", i, v.Words[i], words[i])
		}
	}
	cues := strings.Count(out["vtt"], " --> ")
	if !strings.HasPrefix(out["vtt"], "WEBVTT\n") || cues == 0 {
		t.Errorf("vtt: %q", out["vtt"])
	}
	if !strings.HasPrefix(out["srt"], "1\n") || strings.Count(out["srt"], " --> ") != cues {
		t.Errorf("srt with %d cues (vtt %d): %q", strings.Count(out["srt"], " --> "), cues, out["srt"])
	}
	var ts bytes.Buffer
	if err := writeTimestamped(&ts, tr); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(ts.String(), "\n"); lines != len(tr.Segments)+len(words) || !strings.HasPrefix(ts.String(), "[") {
		t.Errorf("timestamped text (%d lines): %q", lines, ts.String())
	}
}

func mustTranscript(t *testing.T, m *model, pcm []float32, p transcribeParams) *Transcript {
	t.Helper()
	tr, err := m.transcribe(context.Background(), pcm, p)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestErrors(t *testing.T) {
	truncated := imagePath(t, "truncated.jpg")
	blipDir := fixtureModel(t, "blip-caption")
	cases := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"truncated image", []string{"caption", "-model", blipDir, truncated}, exitError, []string{truncated, "truncated"}},
		{"truncated image, vit-gpt2", []string{"caption", "-model", fixtureModel(t, "vit-gpt2"), truncated}, exitError, []string{truncated}},
		{"missing image", []string{"classify", "-model", fixtureModel(t, "vit"), "no-such-image.png"}, exitError, []string{"no-such-image.png"}},
		{"missing model dir", []string{"caption", "-model", "./no/such/model", imagePath(t, "chelsea.png")}, exitError, []string{"./no/such/model"}},
		{"wrong task", []string{"classify", "-model", fixtureModel(t, "whisper"), imagePath(t, "chelsea.png")}, exitError, []string{"transcribe", "classify"}},
		{"image as audio", []string{"transcribe", "-model", fixtureModel(t, "wav2vec2"), imagePath(t, "chelsea.png")}, exitError, []string{"chelsea.png", "audio"}},
		{"unknown flag", []string{"caption", "-bogus", imagePath(t, "chelsea.png")}, exitUsage, []string{"bogus"}},
		{"bad format", []string{"transcribe", "-format", "xml", "a.wav"}, exitUsage, []string{"xml"}},
		{"no inputs", []string{"caption", "-model", blipDir}, exitUsage, []string{"image"}},
		{"unknown command", []string{"paint"}, exitUsage, []string{"paint"}},
		{"unknown language", []string{"transcribe", "-model", fixtureModel(t, "whisper"), "-language", "klingon", testdata.Path(t, "media", "audio", "jfk.flac")}, exitUsage, []string{"klingon", "-language"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, stderr, code := runCLI(t, c.args...)
			if code != c.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, c.code, stderr)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			oneErrorLine(t, stderr, c.want...)
		})
	}
}

func TestFlagsAfterInputs(t *testing.T) {
	// Flags may follow the inputs; "--" ends them.
	a := mustRun(t, "classify", "-model", fixtureModel(t, "vit"), imagePath(t, "chelsea.png"), "-k", "2")
	b := mustRun(t, "classify", "-k", "2", "-model", fixtureModel(t, "vit"), "--", imagePath(t, "chelsea.png"))
	if a != b || strings.Count(a, "\n") != 2 {
		t.Errorf("%q vs %q", a, b)
	}
}

func TestOutputFile(t *testing.T) {
	out := filepath.Join(t.TempDir(), "labels.json")
	stdout := mustRun(t, "classify", "-model", fixtureModel(t, "vit"), "-format", "json", "-o", out, imagePath(t, "chelsea.png"))
	if stdout != "" {
		t.Errorf("stdout %q with -o", stdout)
	}
	var got []Classification
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &got); err != nil || len(got) != 1 || len(got[0].Predictions) == 0 {
		t.Errorf("%s: %q (%v)", out, raw, err)
	}
	// A failed run leaves no output file.
	bad := filepath.Join(t.TempDir(), "bad.json")
	if _, _, code := runCLI(t, "classify", "-model", fixtureModel(t, "vit"), "-o", bad, imagePath(t, "chelsea.png"), imagePath(t, "truncated.jpg")); code != exitError {
		t.Errorf("exit %d", code)
	}
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Errorf("failed run wrote %s", bad)
	}
}

func TestHelp(t *testing.T) {
	out := mustRun(t, "help")
	for _, c := range commands {
		if !strings.Contains(out, c.name) {
			t.Errorf("help does not list %s", c.name)
		}
	}
	out = mustRun(t, "transcribe", "-h")
	for _, f := range []string{"-language", "-task", "-timestamps", "-words", "-beam", "-format", "-o"} {
		if !strings.Contains(out, f) {
			t.Errorf("transcribe -h does not list %s", f)
		}
	}
	if _, _, code := runCLI(t); code != exitUsage {
		t.Errorf("no arguments: exit %d", code)
	}
}

// linkFiles makes a model directory holding only the named files of src.
func linkFiles(t *testing.T, src string, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, n := range names {
		if err := os.Symlink(filepath.Join(src, n), filepath.Join(dir, n)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestCheckpointFormats(t *testing.T) {
	// PyTorch pickles answer as safetensors do.
	vitDir := fixtureModel(t, "vit")
	if _, err := os.Stat(filepath.Join(vitDir, "pytorch_model.bin")); err != nil {
		testdata.Missing(t, "the vit fixture has no pytorch_model.bin")
	}
	bin := linkFiles(t, vitDir, "config.json", "preprocessor_config.json", "pytorch_model.bin")
	a := mustRun(t, "classify", "-model", vitDir, "-format", "json", imagePath(t, "chelsea.png"))
	b := mustRun(t, "classify", "-model", bin, "-format", "json", imagePath(t, "chelsea.png"))
	if a != b {
		t.Errorf("pytorch_model.bin: %s\nmodel.safetensors: %s", b, a)
	}
	// An OpenAI Whisper checkpoint without config.json, alone in its
	// directory with the tokenizer files, loads for transcription.
	wo := fixtureModel(t, "whisper-openai")
	dir := linkFiles(t, wo, "openai.pt", "vocab.json", "merges.txt", "added_tokens.json")
	m, err := loadPath(dir, "whisper")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if !m.Supports(goformer.TaskTranscribe) || whisperOf(m).Tokenizer() == nil || !whisperOf(m).Tokenizer().HasText() {
		t.Errorf("openai.pt directory: tasks %v", m.Tasks())
	}
	// With no hint, a .pt file is tried as Whisper, then as CLIP.
	m2, err := loadPath(filepath.Join(wo, "openai.pt"), "")
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if m2.Family() != "whisper" {
		t.Errorf("openai.pt loaded as %s", m2.Family())
	}
	_, stderr, code := runCLI(t, "zeroshot", "-model", filepath.Join(wo, "openai.pt"), "-labels", "a,b", imagePath(t, "chelsea.png"))
	if code != exitError {
		t.Errorf("a Whisper .pt as CLIP: exit %d", code)
	}
	oneErrorLine(t, stderr, "openai.pt")
}

// whisperOf returns the Whisper model behind a loaded model.
func whisperOf(m *model) *whisper.Model {
	return m.Model.(interface{ Model() *whisper.Model }).Model()
}
