package blip2

import (
	"context"
	"image"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/goformer/goformer/imageproc"
	"github.com/goformer/goformer/internal/expected"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/llm"
	"github.com/goformer/goformer/tensor"
	"github.com/goformer/goformer/tokenizer"
)

const (
	tolPixels = 1e-5
	tolHidden = 1e-4
)

// genCase is one expected generation of cases.json.
type genCase = testdata.Generation

type cases struct {
	Images         []string                             `json:"images"`
	NumQueryTokens int                                  `json:"num_query_tokens"`
	Unconditional  []genCase                            `json:"unconditional"`
	Prompted       []genCase                            `json:"prompted"`
	Beam3          []genCase                            `json:"unconditional_beam3"`
	Generate       map[string]testdata.GenerateSettings `json:"generate"`
	TeacherForced  struct {
		Image string `json:"image"`
		Text  string `json:"text"`
		IDs   []int  `json:"ids"`
	} `json:"teacher_forced"`
}

func readCases(t testing.TB, dir string) cases {
	t.Helper()
	var c cases
	testdata.ReadJSON(t, filepath.Join(dir, "cases.json"), &c)
	return c
}

func loadModel(t testing.TB, dir string) *Model {
	t.Helper()
	return testdata.LoadModel(t, dir, Load)
}

func loadImage(t testing.TB, name string) image.Image {
	t.Helper()
	return testdata.DecodeFile(t, testdata.Path(t, "media", "images", name), imageproc.Decode)
}

// images decodes the images of the cases.
func (c cases) images(t testing.TB) []image.Image {
	t.Helper()
	imgs := make([]image.Image, len(c.Images))
	for i, name := range c.Images {
		imgs[i] = loadImage(t, name)
	}
	return imgs
}

// genKinds are the generation groups of cases.json.
var genKinds = []string{"unconditional", "prompted", "unconditional_beam3"}

// generations returns the cases of a generation group (one of genKinds),
// one per image.
func (c cases) generations(t testing.TB, kind string) []genCase {
	t.Helper()
	cs := map[string][]genCase{"unconditional": c.Unconditional, "prompted": c.Prompted, "unconditional_beam3": c.Beam3}[kind]
	if len(cs) != len(c.Images) {
		t.Fatalf("%d %s cases for %d images", len(cs), kind, len(c.Images))
	}
	return cs
}

// imageIndex returns the position of the named image among the cases'.
func (c cases) imageIndex(t testing.TB, name string) int {
	t.Helper()
	i := slices.Index(c.Images, name)
	if i < 0 {
		t.Fatalf("image %q is not among %v", name, c.Images)
	}
	return i
}

// expTensor returns a tensor of the fixture's expected.safetensors
// (dir: the fixture's folder), skipping the test when it is absent.
func expTensor(t testing.TB, dir, name string) *tensor.Tensor {
	t.Helper()
	path := filepath.Join(dir, "expected.safetensors")
	if !expected.Has(t, path, name) {
		testdata.Missing(t, "%s in expected.safetensors", name)
	}
	return expected.Read(t, path, name)
}

// options turns a group's generate() arguments into search settings.
func options(t testing.TB, m *Model, c cases, kind string) llm.GenerateOptions {
	t.Helper()
	g, ok := c.Generate[kind]
	if !ok {
		testdata.Missing(t, "generate settings for %s", kind)
	}
	o := m.DefaultOptions()
	o.MaxNewTokens, o.MaxLength = g.MaxNewTokens, 0
	o.MinNewTokens = g.MinNewTokens
	o.NumBeams = g.NumBeams
	if g.LengthPenalty != nil {
		o.LengthPenalty = *g.LengthPenalty
	}
	if g.EarlyStopping != nil && *g.EarlyStopping {
		o.EarlyStopping = 1 // generate.EarlyStoppingFirst
	}
	return o
}

// TestParity_blip2 checks the model against transformers 4.30.2 on the
// blip2 fixture: preprocessing, vision tower, Q-Former, language
// projection, teacher-forced logits, and the unconditional, prompted and
// beam generations (ids and decoded texts), through the id-level and the
// image-level calls.
func TestParity_blip2(t *testing.T) {
	dir := testdata.Fixture(t, "blip2")
	c := readCases(t, dir)
	m := loadModel(t, dir)
	ctx := context.Background()
	if c.NumQueryTokens != 0 && c.NumQueryTokens != m.Config().NumQueryTokens {
		t.Fatalf("cases.json num_query_tokens %d, config %d", c.NumQueryTokens, m.Config().NumQueryTokens)
	}

	wantPx := expTensor(t, dir, "pixel_values")
	imgs := c.images(t)
	testdata.CheckPixelValues(t, imgs, m.PixelValues, wantPx, tolPixels)

	// The image side on the reference pixels, so that each stage is
	// checked on its own.
	f, err := m.Encode(ctx, wantPx)
	if err != nil {
		t.Fatal(err)
	}
	testdata.CheckClose(t, "vision_last_hidden_state", f.Vision, expTensor(t, dir, "vision_last_hidden_state"), tolHidden)
	testdata.CheckClose(t, "qformer_last_hidden_state", f.QFormer, expTensor(t, dir, "qformer_last_hidden_state"), tolHidden)
	testdata.CheckClose(t, "language_model_inputs", f.LanguageInputs, expTensor(t, dir, "language_model_inputs"), tolHidden)

	t.Run("teacher_forced", func(t *testing.T) {
		tf := c.TeacherForced
		if len(tf.IDs) == 0 {
			testdata.Missing(t, "blip2 teacher_forced case")
		}
		if ids := m.Tokenizer().EncodeWith(tf.Text, tokenizer.EncodeOptions{AllSpecial: true}); !slices.Equal(ids, tf.IDs) {
			t.Errorf("tokenizer(%q) = %v, want %v", tf.Text, ids, tf.IDs)
		}
		i := c.imageIndex(t, tf.Image)
		lg, err := m.Logits(ctx, wantPx.Slice(0, i, i+1), [][]int{tf.IDs})
		if err != nil {
			t.Fatal(err)
		}
		testdata.CheckClose(t, "teacher_forced_logits", lg, expTensor(t, dir, "teacher_forced_logits"), tolHidden)
	})

	bos := m.Config().Text.BOSTokenID
	check := func(t *testing.T, kind string) {
		cs, prompted := c.generations(t, kind), kind == "prompted"
		opt := options(t, m, c, kind)
		for i, gc := range cs {
			var prompts [][]int
			if prompted {
				if ids := m.Tokenizer().EncodeWith(gc.Prompt, tokenizer.EncodeOptions{AllSpecial: true}); !slices.Equal(ids, gc.PromptIDs) {
					t.Errorf("tokenizer(%q) = %v, want %v", gc.Prompt, ids, gc.PromptIDs)
				}
				prompts = [][]int{gc.PromptIDs}
			}
			o := opt
			var streamed []int
			if o.NumBeams <= 1 {
				o.OnToken = func(id int) { streamed = append(streamed, id) }
			}
			out, err := m.GenerateIDs(ctx, wantPx.Slice(0, i, i+1), prompts, o)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(out[0], gc.IDs) {
				t.Errorf("%s %s: ids\n got %v\nwant %v (min_margin %.3g)", kind, c.Images[i], out[0], gc.IDs, gc.MinMargin)
			}
			if len(out[0]) == 0 || out[0][0] != bos {
				t.Errorf("%s %s: ids %v do not start with the placeholder %d", kind, c.Images[i], out[0], bos)
			}
			if o.OnToken != nil && !slices.Equal(streamed, out[0][1:]) {
				t.Errorf("%s %s: streamed %v, generated %v", kind, c.Images[i], streamed, out[0][1:])
			}
			if got := m.Tokenizer().Decode(out[0], true); got != gc.Text {
				t.Errorf("%s %s: text %q, want %q", kind, c.Images[i], got, gc.Text)
			}

			// The same through the image-level call, when Options can say
			// what the case asks for.
			if g := c.Generate[kind]; g.LengthPenalty != nil && *g.LengthPenalty != m.DefaultOptions().LengthPenalty ||
				g.EarlyStopping != nil && *g.EarlyStopping != (m.DefaultOptions().EarlyStopping == 1) {
				continue
			}
			var r Result
			oo := Options{MaxNewTokens: opt.MaxNewTokens, MinNewTokens: opt.MinNewTokens, NumBeams: opt.NumBeams}
			r, err = m.Caption(ctx, imgs[i], gc.Prompt, oo)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(r.IDs, gc.IDs) || r.Text != gc.Text {
				t.Errorf("%s %s: Caption(%q) = %q %v, want %q %v", kind, c.Images[i], gc.Prompt, r.Text, r.IDs, gc.Text, gc.IDs)
			}
		}
	}
	for _, kind := range genKinds {
		t.Run(kind, func(t *testing.T) { check(t, kind) })
	}

	t.Run("batch", func(t *testing.T) {
		// The prompted cases as one batch of images, one prompt each
		// (left-padded in the language model), give what each gives alone.
		var prompts [][]int
		for _, gc := range c.generations(t, "prompted") {
			prompts = append(prompts, gc.PromptIDs)
		}
		out, err := m.GenerateFromInputs(ctx, f.LanguageInputs, prompts, options(t, m, c, "prompted"))
		if err != nil {
			t.Fatal(err)
		}
		for i, gc := range c.Prompted {
			if !slices.Equal(out[i], gc.IDs) {
				t.Errorf("batch row %d: ids\n got %v\nwant %v", i, out[i], gc.IDs)
			}
		}
	})
}

// TestAnswer_blip2 checks that Answer is generation after the
// "Question: … Answer:" prompt, on the fixture's prompted cases that use
// one.
func TestAnswer_blip2(t *testing.T) {
	dir := testdata.Fixture(t, "blip2")
	c := readCases(t, dir)
	m := loadModel(t, dir)
	opt := options(t, m, c, "prompted")
	n := 0
	for i, gc := range c.Prompted {
		q, ok := strings.CutPrefix(gc.Prompt, "Question: ")
		if q, ok = strings.CutSuffix(q, " Answer:"); !ok || QuestionPrompt(q) != gc.Prompt {
			continue
		}
		n++
		r, err := m.Answer(context.Background(), loadImage(t, c.Images[i]), q, Options{MaxNewTokens: opt.MaxNewTokens, MinNewTokens: opt.MinNewTokens})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(r.IDs, gc.IDs) || r.Text != gc.Text {
			t.Errorf("Answer(%s, %q) = %q %v, want %q %v", c.Images[i], q, r.Text, r.IDs, gc.Text, gc.IDs)
		}
	}
	if n == 0 {
		testdata.Missing(t, "a prompted case of the form %q", QuestionPrompt("…"))
	}
}
