package llava

import (
	"context"
	"image"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/goformer/goformer/generate"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/task"
	"github.com/goformer/goformer/tensor"
)

// sameBits fails unless the device tensor got holds exactly the values of
// the host tensor want.
func sameBits(t *testing.T, what string, want, got *tensor.Tensor) {
	t.Helper()
	if got.OnHost() {
		t.Fatalf("%s: result on the host, want on the device", what)
	}
	h, err := tensor.ToHost(got)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(h.Shape(), want.Shape()) {
		t.Fatalf("%s: shape %v, want %v", what, h.Shape(), want.Shape())
	}
	wd, gd := want.Contiguous().Data(), h.Data()
	for i := range wd {
		if math.Float32bits(wd[i]) != math.Float32bits(gd[i]) {
			t.Fatalf("%s: element %d = %v on the device, %v on the host", what, i, gd[i], wd[i])
		}
	}
}

// transfers returns what moved between the host and d during f.
func transfers(d *tensor.Device, f func()) tensor.Transfers {
	a := d.Transfers()
	f()
	b := d.Transfers()
	return tensor.Transfers{
		Uploads: b.Uploads - a.Uploads, Downloads: b.Downloads - a.Downloads,
		UploadBytes: b.UploadBytes - a.UploadBytes, DownloadBytes: b.DownloadBytes - a.DownloadBytes,
	}
}

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
	exp := expectedTensors(t, dir, "pixel_values", "vision_selected_features")
	px, sel := exp[0], exp[1]
	ctx := context.Background()

	t.Run("features", func(t *testing.T) {
		want, err := m.SelectedFeatures(ctx, px)
		if err != nil {
			t.Fatal(err)
		}
		var got *tensor.Tensor
		tr := transfers(d, func() { got, err = dm.SelectedFeatures(ctx, px) })
		if err != nil {
			t.Fatal(err)
		}
		sameBits(t, "selected features", want, got)
		if tr.Uploads != 1 || tr.Downloads != 0 {
			t.Errorf("vision tower: %+v, want the pixel values uploaded, nothing downloaded", tr)
		}
		// The projector from host features (uploaded) and from the tower's.
		wantF, err := m.Project(sel)
		if err != nil {
			t.Fatal(err)
		}
		gotF, err := dm.Project(sel)
		if err != nil {
			t.Fatal(err)
		}
		sameBits(t, "image features from the reference selection", wantF, gotF)
		wantF, err = m.Project(want)
		if err != nil {
			t.Fatal(err)
		}
		gotF, err = dm.Project(got)
		if err != nil {
			t.Fatal(err)
		}
		sameBits(t, "image features", wantF, gotF)
		all, err := dm.ImageFeatures(ctx, px)
		if err != nil {
			t.Fatal(err)
		}
		sameBits(t, "image features from pixel values", wantF, all)

		// The merged input, from device features and from host ones, for
		// prompts with the image first, inside and last.
		img := m.Config().ImageTokenIndex
		for _, ids := range [][]int{{img, 5, 6}, {1, 9, img, 7}, {1, 2, img}} {
			f := wantF.Slice(0, 0, 1)
			df := gotF.Slice(0, 0, 1)
			want, err := m.InputEmbeds(ids, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, in := range []*tensor.Tensor{df, f} {
				got, err := dm.InputEmbeds(ids, in)
				if err != nil {
					t.Fatal(err)
				}
				sameBits(t, "input embeddings", want, got)
			}
		}
		want, err = m.InputEmbeds([]int{1, 2, 3}, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err = dm.InputEmbeds([]int{1, 2, 3}, nil)
		if err != nil {
			t.Fatal(err)
		}
		sameBits(t, "text-only input embeddings", want, got)
	})

	t.Run("teacher_forced", func(t *testing.T) {
		tf := cs.TeacherForced
		if len(tf.IDs) == 0 {
			testdata.Missing(t, "llava teacher_forced case")
		}
		i := imageIndex(t, cs.Images, tf.Image)
		p := px.Slice(0, i, i+1).Contiguous()
		want, err := m.Logits(ctx, tf.IDs, p)
		if err != nil {
			t.Fatal(err)
		}
		var got *tensor.Tensor
		tr := transfers(d, func() { got, err = dm.Logits(ctx, tf.IDs, p) })
		if err != nil {
			t.Fatal(err)
		}
		sameBits(t, "teacher-forced logits", want, got)
		if tr.Uploads != 1 || tr.Downloads != 0 {
			t.Errorf("teacher-forced logits: %+v, want the pixel values uploaded, nothing downloaded", tr)
		}
	})

	t.Run("generate", func(t *testing.T) {
		if len(cs.Cases) == 0 {
			testdata.Missing(t, "llava generation cases")
		}
		g := cs.Generate
		for _, c := range cs.Cases {
			pv, err := m.PixelValues([]image.Image{readImage(t, c.Image)})
			if err != nil {
				t.Fatal(err)
			}
			for _, mode := range []string{"greedy", "beam", "sample"} {
				opt := m.DefaultOptions()
				opt.MaxNewTokens, opt.MaxLength, opt.MinNewTokens = g.MaxNewTokens, 0, g.MinNewTokens
				opt.NumBeams = max(g.NumBeams, 1)
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
				tr := transfers(d, func() { got, err = dm.Generate(ctx, c.InputIDs, pv, opt) })
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
		if len(cs.Cases) == 0 {
			testdata.Missing(t, "llava generation cases")
		}
		c := cs.Cases[0]
		q, ok := oneTurnQuestion(c.Prompt)
		if !ok {
			testdata.Missing(t, "a llava case whose prompt is one chat turn (got %q)", c.Prompt)
		}
		msgs := []Message{{Role: task.RoleUser, Text: q, Images: []image.Image{readImage(t, c.Image)}}}
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
