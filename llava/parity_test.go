package llava

import (
	"context"
	"encoding/json"
	"flag"
	"image"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/imageproc"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/task"
	"github.com/goformer/goformer/tensor"
	"github.com/goformer/goformer/tokenizer"
)

// Tolerances of the shared reference data (shared/README.md).
const (
	tolPixels   = 1e-5
	tolFeatures = 1e-4
	tolLogits   = 1e-4
)

// TestMain leaves the example out when the shared fixtures it loads are
// absent (tests skip then, or fail under CI=true, through testdata).
func TestMain(m *testing.M) {
	flag.Parse()
	if _, ok := testdata.Root(); !ok && os.Getenv("CI") != "true" {
		if f := flag.Lookup("test.run"); f != nil && f.Value.String() == "" {
			flag.Set("test.run", "^(Test|Fuzz)")
		}
	}
	os.Exit(m.Run())
}

// llavaCases is the fixture's cases.json.
type llavaCases struct {
	Images          []string `json:"images"`
	ImageTokenIndex int      `json:"image_token_index"`
	Generate        struct {
		MaxNewTokens int  `json:"max_new_tokens"`
		MinNewTokens int  `json:"min_new_tokens"`
		NumBeams     int  `json:"num_beams"`
		DoSample     bool `json:"do_sample"`
	} `json:"generate"`
	Cases []struct {
		Image     string  `json:"image"`
		Prompt    string  `json:"prompt"`
		InputIDs  []int   `json:"input_ids"`
		IDs       []int   `json:"ids"`
		NewIDs    []int   `json:"new_ids"`
		MinMargin float64 `json:"min_margin"`
		Text      string  `json:"text"`
		FullText  string  `json:"full_text"`
	} `json:"cases"`
	TeacherForced struct {
		Image              string `json:"image"`
		Text               string `json:"text"`
		IDs                []int  `json:"ids"`
		ImageTokenPosition int    `json:"image_token_position"`
		NumPatches         int    `json:"num_patches"`
	} `json:"teacher_forced"`
}

func readCases(t *testing.T, dir string) llavaCases {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cs llavaCases
	if err := json.Unmarshal(raw, &cs); err != nil {
		t.Fatalf("cases.json: %v", err)
	}
	return cs
}

var (
	fixtureOnce  sync.Once
	fixtureModel *Model
	fixtureErr   error
)

// loadFixture loads the fixture's model once for the package's tests.
func loadFixture(t *testing.T) (*Model, string) {
	t.Helper()
	dir := testdata.Fixture(t, "llava")
	fixtureOnce.Do(func() { fixtureModel, fixtureErr = Load(filepath.Join(dir, "model")) })
	if fixtureErr != nil {
		t.Fatal(fixtureErr)
	}
	return fixtureModel, dir
}

func readImage(t *testing.T, name string) image.Image {
	t.Helper()
	f, err := os.Open(testdata.Path(t, "media", "images", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := imageproc.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return img
}

func expectedTensors(t *testing.T, dir string, names ...string) []*tensor.Tensor {
	t.Helper()
	f, err := checkpoint.OpenSafetensors(filepath.Join(dir, "expected.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	out := make([]*tensor.Tensor, len(names))
	for i, n := range names {
		if out[i], err = f.Tensor(n); err != nil {
			testdata.Missing(t, "%s in %s: %v", n, dir, err)
		}
	}
	return out
}

func maxAbsDiff(t *testing.T, what string, got, want *tensor.Tensor) float64 {
	t.Helper()
	if !slices.Equal(got.Shape(), want.Shape()) {
		t.Fatalf("%s: shape %v, want %v", what, got.Shape(), want.Shape())
	}
	g, w := got.Contiguous().Data(), want.Contiguous().Data()
	var m float64
	for i := range g {
		d := math.Abs(float64(g[i]) - float64(w[i]))
		if d > m || d != d {
			m = d
		}
	}
	return m
}

func imageIndex(t *testing.T, images []string, name string) int {
	t.Helper()
	i := slices.Index(images, name)
	if i < 0 {
		t.Fatalf("image %q is not among the fixture's images %v", name, images)
	}
	return i
}

func TestParity_llava(t *testing.T) {
	m, dir := loadFixture(t)
	cs := readCases(t, dir)
	if cs.ImageTokenIndex != 0 && cs.ImageTokenIndex != m.Config().ImageTokenIndex {
		t.Fatalf("cases.json image_token_index %d, config.json %d", cs.ImageTokenIndex, m.Config().ImageTokenIndex)
	}
	exp := expectedTensors(t, dir, "pixel_values", "vision_selected_features", "image_features", "teacher_forced_logits")
	wantPx, wantSel, wantFeat, wantTF := exp[0], exp[1], exp[2], exp[3]
	if wantPx.Dim(0) != len(cs.Images) {
		t.Fatalf("pixel_values %v for %d images", wantPx.Shape(), len(cs.Images))
	}
	ctx := context.Background()
	imgs := make([]image.Image, len(cs.Images))
	for i, name := range cs.Images {
		imgs[i] = readImage(t, name)
	}

	t.Run("pixel_values", func(t *testing.T) {
		px, err := m.PixelValues(imgs)
		if err != nil {
			t.Fatal(err)
		}
		d := maxAbsDiff(t, "pixel_values", px, wantPx)
		t.Logf("pixel_values %v: max|Δ| = %.3g", wantPx.Shape(), d)
		if d > tolPixels {
			t.Errorf("pixel_values max|Δ| = %g > %g", d, tolPixels)
		}
	})

	t.Run("features", func(t *testing.T) {
		// From the reference pixel values: each stage on its own.
		sel, err := m.SelectedFeatures(ctx, wantPx)
		if err != nil {
			t.Fatal(err)
		}
		d := maxAbsDiff(t, "vision_selected_features", sel, wantSel)
		t.Logf("vision_selected_features %v: max|Δ| = %.3g", wantSel.Shape(), d)
		if d > tolFeatures {
			t.Errorf("vision_selected_features max|Δ| = %g > %g", d, tolFeatures)
		}
		feat, err := m.Project(wantSel)
		if err != nil {
			t.Fatal(err)
		}
		d = maxAbsDiff(t, "image_features", feat, wantFeat)
		t.Logf("image_features (projected from the reference selection) %v: max|Δ| = %.3g", wantFeat.Shape(), d)
		if d > tolFeatures {
			t.Errorf("image_features max|Δ| = %g > %g", d, tolFeatures)
		}
		all, err := m.ImageFeatures(ctx, wantPx)
		if err != nil {
			t.Fatal(err)
		}
		d = maxAbsDiff(t, "image_features", all, wantFeat)
		t.Logf("image_features (tower and projector) %v: max|Δ| = %.3g", wantFeat.Shape(), d)
		if d > tolFeatures {
			t.Errorf("image_features from pixel values max|Δ| = %g > %g", d, tolFeatures)
		}
		if rows := m.Config().FeatureRows(); wantFeat.Dim(1) != rows {
			t.Errorf("config gives %d feature rows per image, the reference %d", rows, wantFeat.Dim(1))
		}
	})

	t.Run("teacher_forced", func(t *testing.T) {
		tf := cs.TeacherForced
		if len(tf.IDs) == 0 {
			testdata.Missing(t, "llava teacher_forced case")
		}
		p := slices.Index(tf.IDs, m.Config().ImageTokenIndex)
		if p != tf.ImageTokenPosition {
			t.Fatalf("<image> at %d, cases.json says %d", p, tf.ImageTokenPosition)
		}
		rows := m.Config().FeatureRows()
		if tf.NumPatches != 0 && tf.NumPatches != rows {
			t.Fatalf("num_patches %d, the config gives %d rows", tf.NumPatches, rows)
		}
		img := imageIndex(t, cs.Images, tf.Image)
		px := wantPx.Slice(0, img, img+1).Contiguous()
		lg, err := m.Logits(ctx, tf.IDs, px)
		if err != nil {
			t.Fatal(err)
		}
		if lg.Dim(1) != len(tf.IDs)-1+rows {
			t.Fatalf("logits for %d positions, want %d", lg.Dim(1), len(tf.IDs)-1+rows)
		}
		// Rows after the image: merged index p + rows + j for ids[p+1+j].
		got := lg.Slice(1, p+rows, lg.Dim(1))
		d := maxAbsDiff(t, "teacher_forced_logits", got, wantTF)
		t.Logf("teacher-forced logits %v: max|Δ| = %.3g", wantTF.Shape(), d)
		if d > tolLogits {
			t.Errorf("teacher-forced logits max|Δ| = %g > %g", d, tolLogits)
		}
		if tok := m.Tokenizer(); tok != nil && tf.Text != "" {
			if ids := tok.EncodeWith(tf.Text, tokenizer.EncodeOptions{AllSpecial: true}); !slices.Equal(ids, tf.IDs) {
				t.Errorf("teacher-forced text %q encodes as %v, want %v", tf.Text, ids, tf.IDs)
			}
		}
	})

	t.Run("generate", func(t *testing.T) {
		if len(cs.Cases) == 0 {
			testdata.Missing(t, "llava generation cases")
		}
		g := cs.Generate
		if g.DoSample {
			t.Fatalf("the generation cases sample; want greedy or beam search")
		}
		tok := m.Tokenizer()
		for _, c := range cs.Cases {
			// The prompt as the tokenizer encodes it and as the chat
			// template writes it.
			if ids := tok.EncodeWith(c.Prompt, tokenizer.EncodeOptions{AllSpecial: true}); !slices.Equal(ids, c.InputIDs) {
				t.Errorf("%s: prompt %q encodes as %v, want %v", c.Image, c.Prompt, ids, c.InputIDs)
			}
			img := readImage(t, c.Image)
			if q, ok := oneTurnQuestion(c.Prompt); ok {
				msgs := []Message{{Role: task.RoleUser, Text: q, Images: []image.Image{img}}}
				prompt, _, err := m.Template().Prompt(msgs)
				if err != nil || prompt != c.Prompt {
					t.Errorf("%s: template wrote %q (%v), want %q", c.Image, prompt, err, c.Prompt)
				}
				if ids, _, err := m.Encode(msgs); err != nil || !slices.Equal(ids, c.InputIDs) {
					t.Errorf("%s: Encode gave %v (%v), want %v", c.Image, ids, err, c.InputIDs)
				}
			} else {
				t.Logf("%s: prompt %q is not one chat turn; template not checked", c.Image, c.Prompt)
			}
			px, err := m.PixelValues([]image.Image{img})
			if err != nil {
				t.Fatal(err)
			}
			opt := m.DefaultOptions()
			opt.MaxNewTokens, opt.MaxLength, opt.MinNewTokens = g.MaxNewTokens, 0, g.MinNewTokens
			opt.NumBeams = max(g.NumBeams, 1)
			var streamed []int
			if opt.NumBeams == 1 {
				opt.OnToken = func(id int) { streamed = append(streamed, id) }
			}
			got, err := m.Generate(ctx, c.InputIDs, px, opt)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, c.IDs) {
				t.Errorf("%s: ids\n got %v\nwant %v (min_margin %g)", c.Image, got, c.IDs, c.MinMargin)
				continue
			}
			if opt.OnToken != nil && !slices.Equal(streamed, got[len(c.InputIDs):]) {
				t.Errorf("%s: streamed %v, generated %v", c.Image, streamed, got[len(c.InputIDs):])
			}
			if c.NewIDs != nil && !slices.Equal(got[len(c.InputIDs):], c.NewIDs) {
				t.Errorf("%s: new ids %v, want %v", c.Image, got[len(c.InputIDs):], c.NewIDs)
			}
			if text := tok.Decode(got[len(c.InputIDs):], true); text != c.Text {
				t.Errorf("%s: text %q, want %q", c.Image, text, c.Text)
			}
			if c.FullText != "" {
				if text := tok.Decode(got, true); text != c.FullText {
					t.Errorf("%s: full text %q, want %q", c.Image, text, c.FullText)
				}
			}
		}
	})
}

// oneTurnQuestion returns the question of a one-turn prompt
// "USER: <image>\n{question} ASSISTANT:".
func oneTurnQuestion(prompt string) (string, bool) {
	const pre, post = "USER: <image>\n", " ASSISTANT:"
	if !strings.HasPrefix(prompt, pre) || !strings.HasSuffix(prompt, post) || len(prompt) < len(pre)+len(post) {
		return "", false
	}
	q := prompt[len(pre) : len(prompt)-len(post)]
	if q == "" || strings.Contains(q, "<image>") || strings.Contains(q, "ASSISTANT:") {
		return "", false
	}
	return q, true
}

func testdataFixture(t *testing.T) string {
	t.Helper()
	return testdata.Fixture(t, "llava")
}
