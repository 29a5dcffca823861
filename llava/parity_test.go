package llava

import (
	"context"
	"image"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/goformer/goformer/imageproc"
	"github.com/goformer/goformer/internal/expected"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/llm"
	"github.com/goformer/goformer/task"
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
func TestMain(m *testing.M) { os.Exit(testdata.MainWithoutData(m)) }

// llavaCases is the fixture's cases.json.
type llavaCases = testdata.LlavaCases

// options returns m's defaults with the fixture's generate settings:
// greedy search (or beam search), the new tokens bounded.
func options(m *Model, g testdata.GenerateSettings) llm.GenerateOptions {
	opt := m.DefaultOptions()
	opt.MaxNewTokens, opt.MaxLength, opt.MinNewTokens = g.MaxNewTokens, 0, g.MinNewTokens
	opt.NumBeams = max(g.NumBeams, 1)
	return opt
}

func readCases(t *testing.T, dir string) llavaCases {
	t.Helper()
	var cs llavaCases
	testdata.ReadJSON(t, filepath.Join(dir, "cases.json"), &cs)
	return cs
}

var fixture testdata.Lazy[*Model]

// loadFixture loads the fixture's model once for the package's tests.
func loadFixture(t *testing.T) (*Model, string) {
	t.Helper()
	dir := testdata.Fixture(t, "llava")
	return fixture.Get(t, func() (*Model, error) { return Load(filepath.Join(dir, "model")) }), dir
}

func readImage(t *testing.T, name string) image.Image {
	t.Helper()
	return testdata.DecodeFile(t, testdata.Path(t, "media", "images", name), imageproc.Decode)
}

func TestParity_llava(t *testing.T) {
	m, dir := loadFixture(t)
	cs := readCases(t, dir)
	if cs.ImageTokenIndex != 0 && cs.ImageTokenIndex != m.Config().ImageTokenIndex {
		t.Fatalf("cases.json image_token_index %d, config.json %d", cs.ImageTokenIndex, m.Config().ImageTokenIndex)
	}
	exp := expected.Tensors(t, "llava", "pixel_values", "vision_selected_features", "image_features", "teacher_forced_logits")
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
		testdata.CheckClose(t, "pixel_values", px, wantPx, tolPixels)
	})

	t.Run("features", func(t *testing.T) {
		// From the reference pixel values: each stage on its own.
		sel, err := m.SelectedFeatures(ctx, wantPx)
		if err != nil {
			t.Fatal(err)
		}
		testdata.CheckClose(t, "vision_selected_features", sel, wantSel, tolFeatures)
		feat, err := m.Project(wantSel)
		if err != nil {
			t.Fatal(err)
		}
		testdata.CheckClose(t, "image_features (projected from the reference selection)", feat, wantFeat, tolFeatures)
		all, err := m.ImageFeatures(ctx, wantPx)
		if err != nil {
			t.Fatal(err)
		}
		testdata.CheckClose(t, "image_features (tower and projector)", all, wantFeat, tolFeatures)
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
		img := testdata.Index(t, cs.Images, tf.Image)
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
		testdata.CheckClose(t, "teacher_forced_logits", got, wantTF, tolLogits)
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
		if cs.Generate.DoSample {
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
			opt := options(m, cs.Generate)
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
