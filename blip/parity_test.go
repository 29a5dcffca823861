package blip

import (
	"context"
	"encoding/json"
	"image"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"testing"

	"github.com/goformer/goformer/imageproc"
	"github.com/goformer/goformer/internal/expected"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor"
)

const (
	tolPixels = 1e-5
	tolHidden = 1e-4
)

// genCase is one expected generation of cases.json.
type genCase = testdata.Generation

type captionCases struct {
	Images           []string  `json:"images"`
	Prefix           string    `json:"prefix"`
	TeacherForcedIDs []int     `json:"teacher_forced_ids"`
	Unconditional    []genCase `json:"unconditional"`
	Conditional      []genCase `json:"conditional"`
	raw              map[string]json.RawMessage
}

type vqaCase struct {
	Image       string  `json:"image"`
	Question    string  `json:"question"`
	QuestionIDs []int   `json:"question_ids"`
	IDs         []int   `json:"ids"`
	Answer      string  `json:"answer"`
	MinMargin   float64 `json:"min_margin"`
}

func loadModel(t *testing.T, dir string) *Model {
	t.Helper()
	return testdata.LoadModel(t, dir, Load)
}

func loadImage(t *testing.T, name string) image.Image {
	t.Helper()
	return testdata.DecodeFile(t, testdata.Path(t, "media", "images", name), imageproc.Decode)
}

// readCaptionCases reads the blip-caption fixture's cases.json.
func readCaptionCases(t *testing.T, dir string) captionCases {
	t.Helper()
	var c captionCases
	testdata.ReadJSON(t, filepath.Join(dir, "cases.json"), &c)
	testdata.ReadJSON(t, filepath.Join(dir, "cases.json"), &c.raw)
	return c
}

// vqaCases is the blip-vqa fixture's cases.json.
type vqaCases struct {
	QA []vqaCase `json:"qa"`
}

// readVQACases reads the blip-vqa fixture's cases.json.
func readVQACases(t *testing.T, dir string) vqaCases {
	t.Helper()
	var c vqaCases
	testdata.ReadJSON(t, filepath.Join(dir, "cases.json"), &c)
	return c
}

// genRun is one list of reference generations of the caption cases.
type genRun struct {
	name   string
	prompt []int // the conditional cases' prompt; nil: unconditional
	beams  int   // 0: greedy
	cases  []genCase
}

// runs returns the caption fixture's reference generations: greedy
// unconditional and (when present) conditional, then every
// "<kind>_beam<N>" list, in the order of their keys. It fails t when there
// is no beam-search list.
func (c captionCases) runs(t *testing.T) []genRun {
	t.Helper()
	runs := []genRun{{name: "unconditional", cases: c.Unconditional}}
	if len(c.Conditional) > 0 {
		runs = append(runs, genRun{name: "conditional", prompt: c.Conditional[0].PromptIDs, cases: c.Conditional})
	}
	var keys []string
	for k := range c.raw {
		if beamKey.MatchString(k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		t.Errorf("cases.json has no beam-search cases")
	}
	for _, k := range keys {
		sub := beamKey.FindStringSubmatch(k)
		r := genRun{name: k}
		r.beams, _ = strconv.Atoi(sub[2])
		if err := json.Unmarshal(c.raw[k], &r.cases); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if sub[1] == "conditional" {
			r.prompt = r.cases[0].PromptIDs
		}
		runs = append(runs, r)
	}
	return runs
}

// images decodes the images of the cases.
func (c captionCases) images(t *testing.T) []image.Image {
	t.Helper()
	imgs := make([]image.Image, len(c.Images))
	for i, name := range c.Images {
		imgs[i] = loadImage(t, name)
	}
	return imgs
}

// lengthOptions returns the length limit a reference generation implies: a
// sequence that does not end with [SEP] stopped at the maximum length, so
// max_length is its length; one that ends with [SEP] stopped by itself,
// under the config's default maximum.
func lengthOptions(ids []int, sep int) Options {
	if len(ids) > 0 && ids[len(ids)-1] == sep {
		return Options{}
	}
	return Options{MaxLength: len(ids)}
}

// checkIDs compares generated sequences with the reference cases.
func checkIDs(t *testing.T, what string, got [][]int, cases []genCase) {
	t.Helper()
	if len(got) != len(cases) {
		t.Fatalf("%s: %d sequences, want %d", what, len(got), len(cases))
	}
	for i, c := range cases {
		if !slices.Equal(got[i], c.IDs) {
			t.Errorf("%s[%d]: ids\n got %v\nwant %v (min_margin %.3g)", what, i, got[i], c.IDs, c.MinMargin)
		}
	}
}

// sameLimits groups case indices by the options their lengths imply, so
// that each group can run as one batch.
func sameLimits(cases []genCase, sep int) map[Options][]int {
	groups := map[Options][]int{}
	for i, c := range cases {
		o := lengthOptions(c.IDs, sep)
		groups[o] = append(groups[o], i)
	}
	return groups
}

func subBatch(x *tensor.Tensor, idx []int) *tensor.Tensor {
	parts := make([]*tensor.Tensor, len(idx))
	for i, j := range idx {
		parts[i] = x.Slice(0, j, j+1)
	}
	out, err := tensor.Concat(0, parts...)
	if err != nil {
		panic(err)
	}
	return out
}

var beamKey = regexp.MustCompile(`^(unconditional|conditional)_beam(\d+)$`)

func TestParity_blip_caption(t *testing.T) {
	dir := testdata.Fixture(t, "blip-caption")
	cases := readCaptionCases(t, dir)
	m := loadModel(t, dir)
	if m.Task() != TaskCaptioning {
		t.Fatalf("task %v, want captioning", m.Task())
	}
	exp := filepath.Join(dir, "expected.safetensors")
	ctx := context.Background()
	sep := m.Config().Text.SepTokenID

	// Preprocessing: the fixture's images through the model's processor.
	wantPx := expected.Read(t, exp, "pixel_values")
	imgs := cases.images(t)
	testdata.CheckPixelValues(t, imgs, m.PixelValues, wantPx, tolPixels)

	// Vision encoder, from the reference pixel values.
	embeds, err := m.EncodeImages(ctx, wantPx)
	if err != nil {
		t.Fatal(err)
	}
	testdata.CheckClose(t, "vision_last_hidden_state", embeds, expected.Read(t, exp, "vision_last_hidden_state"), tolHidden)

	// Teacher-forced decoder logits on the first images.
	wantTF := expected.Read(t, exp, "teacher_forced_logits")
	logits := teacherForced(t, m, embeds, cases.TeacherForcedIDs, wantTF.Dim(0))
	testdata.CheckClose(t, "teacher_forced_logits", logits, wantTF, tolHidden)

	// Greedy captions, unconditional and with the prefix: from the
	// reference pixel values (ids), and end to end from the image files
	// (ids and decoded text).
	run := func(what string, gc []genCase, prompt []int, base Options) {
		t.Helper()
		if len(gc) != len(imgs) {
			t.Fatalf("%s: %d cases for %d images", what, len(gc), len(imgs))
		}
		got := make([][]int, len(gc))
		e2e := make([]Caption, len(gc))
		for lim, idx := range sameLimits(gc, sep) {
			o := base
			o.MaxLength = lim.MaxLength
			ids, err := m.GenerateIDs(ctx, subBatch(embeds, idx), prompt, o)
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			sub := make([]image.Image, len(idx))
			for i, j := range idx {
				got[j] = ids[i]
				sub[i] = imgs[j]
			}
			var caps []Caption
			if prompt == nil {
				caps, err = m.Caption(ctx, sub, o)
			} else {
				caps, err = m.CaptionWithPrefix(ctx, sub, cases.Prefix, o)
			}
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			for i, j := range idx {
				e2e[j] = caps[i]
			}
		}
		checkIDs(t, what, got, gc)
		for i, c := range gc {
			if !slices.Equal(e2e[i].IDs, c.IDs) || e2e[i].Text != c.Text {
				t.Errorf("%s[%d] from the image: %q %v\nwant %q %v", what, i, e2e[i].Text, e2e[i].IDs, c.Text, c.IDs)
			}
		}
		m.checkTexts(t, what, got, gc)
	}
	for i, c := range cases.Conditional {
		if !slices.Equal(c.PromptIDs, cases.Conditional[0].PromptIDs) {
			t.Fatalf("conditional[%d]: prompt_ids differ from the first case's", i)
		}
	}
	if len(cases.Conditional) > 0 {
		m.checkPrompt(t, cases.Prefix, cases.Conditional[0].PromptIDs)
	}
	for _, r := range cases.runs(t) {
		run(r.name, r.cases, r.prompt, Options{NumBeams: r.beams})
	}
}

func TestParity_blip_vqa(t *testing.T) {
	dir := testdata.Fixture(t, "blip-vqa")
	cases := readVQACases(t, dir)
	m := loadModel(t, dir)
	if m.Task() != TaskQuestionAnswering {
		t.Fatalf("task %v, want question answering", m.Task())
	}
	exp := filepath.Join(dir, "expected.safetensors")
	ctx := context.Background()
	sep := m.Config().Text.SepTokenID

	wantPx := expected.Read(t, exp, "pixel_values")
	imgs := make([]image.Image, len(cases.QA))
	for i, c := range cases.QA {
		imgs[i] = loadImage(t, c.Image)
	}
	testdata.CheckPixelValues(t, imgs, m.PixelValues, wantPx, tolPixels)

	embeds, err := m.EncodeImages(ctx, wantPx)
	if err != nil {
		t.Fatal(err)
	}
	gc := make([]genCase, len(cases.QA))
	for i, c := range cases.QA {
		gc[i] = genCase{PromptIDs: c.QuestionIDs, IDs: c.IDs, Text: c.Answer, MinMargin: c.MinMargin}
		m.checkPrompt(t, c.Question, c.QuestionIDs)
	}
	// All questions in one batch (padded to the longest), grouped only by
	// the length limit their answers imply.
	got := make([][]int, len(gc))
	for lim, idx := range sameLimits(gc, sep) {
		qs := make([][]int, len(idx))
		for i, j := range idx {
			qs[i] = gc[j].PromptIDs
		}
		ids, err := m.AnswerIDs(ctx, subBatch(embeds, idx), qs, lim)
		if err != nil {
			t.Fatal(err)
		}
		for i, j := range idx {
			got[j] = ids[i]
		}
	}
	checkIDs(t, "answers", got, gc)
	m.checkTexts(t, "answers", got, gc)

	// End to end from the image files and question texts.
	for lim, idx := range sameLimits(gc, sep) {
		sub := make([]image.Image, len(idx))
		qs := make([]string, len(idx))
		for i, j := range idx {
			sub[i], qs[i] = imgs[j], cases.QA[j].Question
		}
		ans, err := m.Answer(ctx, sub, qs, lim)
		if err != nil {
			t.Fatal(err)
		}
		for i, j := range idx {
			c := cases.QA[j]
			if a := ans[i]; !slices.Equal(a.IDs, c.IDs) || a.Text != c.Answer || a.Question != c.Question {
				t.Errorf("answer %d from the image: %+v\nwant %q %v", j, a, c.Answer, c.IDs)
			}
		}
	}
}

// checkPrompt checks that the tokenizer turns text into the reference ids.
func (m *Model) checkPrompt(t *testing.T, text string, want []int) {
	t.Helper()
	got, err := m.encode(text)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("tokenized %q: %v, want %v", text, got, want)
	}
}

// checkTexts checks the decoded texts of generated sequences.
func (m *Model) checkTexts(t *testing.T, what string, got [][]int, cases []genCase) {
	t.Helper()
	for i, c := range cases {
		if txt := m.decode(got[i]); txt != c.Text {
			t.Errorf("%s[%d]: text %q, want %q", what, i, txt, c.Text)
		}
	}
}
