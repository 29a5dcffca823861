package llava

import (
	"context"
	"image"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/goformer/goformer/generate"
	"github.com/goformer/goformer/internal/expected"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/task"
	"github.com/goformer/goformer/tensor"
)

// TestDevice_llava loads the fixture on the checking device and runs every
// stage of TestParity_llava there — vision tower, projector, merged input,
// teacher-forced logits, greedy generation with streaming — plus beam
// search, seeded sampling and a chat: results identical to the host
// model's, with only the pixel values uploaded and the logits of each
// decoding step downloaded.
func TestDevice_llava(t *testing.T) {
	m, dir := loadFixture(t)
	cs := readCases(t, dir)
	d := tensor.NewCheckingDevice()
	dm, err := Load(filepath.Join(dir, "model"), nn.WithDevice(d))
	if err != nil {
		t.Fatal(err)
	}
	defer dm.Close()
	exp := expected.Tensors(t, "llava", "pixel_values", "vision_selected_features")
	px, sel := exp[0], exp[1]
	ctx := context.Background()

	t.Run("features", func(t *testing.T) {
		must := func(x *tensor.Tensor, err error) *tensor.Tensor {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			return x
		}
		var got *tensor.Tensor
		want := must(m.SelectedFeatures(ctx, px))
		if tr := expected.Transfers(d, func() { got = must(dm.SelectedFeatures(ctx, px)) }); tr.Uploads != 1 || tr.Downloads != 0 {
			t.Errorf("vision tower: %+v, want the pixel values uploaded, nothing downloaded", tr)
		}
		expected.SameBits(t, "selected features", want, got)
		// The projector from host features (uploaded) and from the tower's.
		expected.SameBits(t, "image features from the reference selection", must(m.Project(sel)), must(dm.Project(sel)))
		wantF, gotF := must(m.Project(want)), must(dm.Project(got))
		expected.SameBits(t, "image features", wantF, gotF)
		expected.SameBits(t, "image features from pixel values", wantF, must(dm.ImageFeatures(ctx, px)))

		// The merged input, from device features and from host ones, for
		// prompts with the image first, inside and last.
		img := m.Config().ImageTokenIndex
		for _, ids := range [][]int{{img, 5, 6}, {1, 9, img, 7}, {1, 2, img}} {
			f := wantF.Slice(0, 0, 1)
			want := must(m.InputEmbeds(ids, f))
			for _, in := range []*tensor.Tensor{gotF.Slice(0, 0, 1), f} {
				expected.SameBits(t, "input embeddings", want, must(dm.InputEmbeds(ids, in)))
			}
		}
		expected.SameBits(t, "text-only input embeddings", must(m.InputEmbeds([]int{1, 2, 3}, nil)), must(dm.InputEmbeds([]int{1, 2, 3}, nil)))
	})

	t.Run("teacher_forced", func(t *testing.T) {
		tf := cs.TeacherForced
		if len(tf.IDs) == 0 {
			testdata.Missing(t, "llava teacher_forced case")
		}
		i := testdata.Index(t, cs.Images, tf.Image)
		p := px.Slice(0, i, i+1).Contiguous()
		tr := expected.SameOnDevice(t, "teacher-forced logits", d,
			func() (*tensor.Tensor, error) { return m.Logits(ctx, tf.IDs, p) },
			func() (*tensor.Tensor, error) { return dm.Logits(ctx, tf.IDs, p) })
		if tr.Uploads != 1 || tr.Downloads != 0 {
			t.Errorf("teacher-forced logits: %+v, want the pixel values uploaded, nothing downloaded", tr)
		}
	})

	t.Run("generate", func(t *testing.T) {
		if len(cs.Cases) == 0 {
			testdata.Missing(t, "llava generation cases")
		}
		for _, c := range cs.Cases {
			pv, err := m.PixelValues([]image.Image{readImage(t, c.Image)})
			if err != nil {
				t.Fatal(err)
			}
			for _, mode := range []string{"greedy", "beam", "sample"} {
				opt := options(m, cs.Generate)
				switch mode {
				case "beam":
					opt.NumBeams = 3
				case "sample":
					opt.Sample = &generate.Sampling{Temperature: 0.8, TopK: 40, TopP: 0.9, Seed: 13}
				}
				var hs, ds []int
				stream := opt.NumBeams == 1
				if stream {
					opt.OnToken = func(id int) { hs = append(hs, id) }
				}
				want, err := m.Generate(ctx, c.InputIDs, pv, opt)
				if err != nil {
					t.Fatal(err)
				}
				if stream {
					opt.OnToken = func(id int) { ds = append(ds, id) }
				}
				var got []int
				tr := expected.Transfers(d, func() { got, err = dm.Generate(ctx, c.InputIDs, pv, opt) })
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, want) || !slices.Equal(ds, hs) {
					t.Errorf("%s %s: device %v (streamed %v), host %v (streamed %v)", c.Image, mode, got, ds, want, hs)
				}
				if mode == "greedy" && !slices.Equal(got, c.IDs) {
					t.Errorf("%s: device ids %v, fixture %v", c.Image, got, c.IDs)
				}
				if tr.Uploads != 1 || tr.Downloads < 1 || tr.Downloads > int64(opt.MaxNewTokens) {
					t.Errorf("%s %s: %+v, want the pixel values uploaded and one download per step (≤ %d)", c.Image, mode, tr, opt.MaxNewTokens)
				}
			}
		}
	})

	t.Run("chat", func(t *testing.T) {
		_, q, img, _ := chatCase(t)
		msgs := []Message{{Role: task.RoleUser, Text: q, Images: []image.Image{img}}}
		var hp, dp []string
		want, err := m.Chat(ctx, msgs, ChatOptions{MaxNewTokens: 6, OnToken: func(s string) { hp = append(hp, s) }})
		if err != nil {
			t.Fatal(err)
		}
		got, err := dm.Chat(ctx, msgs, ChatOptions{MaxNewTokens: 6, OnToken: func(s string) { dp = append(dp, s) }})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.IDs, want.IDs) || got.Text != want.Text || strings.Join(dp, "|") != strings.Join(hp, "|") {
			t.Errorf("chat on the device %v %q (streamed %q), on the host %v %q (streamed %q)", got.IDs, got.Text, dp, want.IDs, want.Text, hp)
		}
	})
}
