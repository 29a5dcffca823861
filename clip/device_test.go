package clip

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/goformer/goformer/tensor"
)

// sameRows fails unless got and want hold identical values, bit for bit.
func sameRows(t *testing.T, what string, want, got [][]float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d rows, want %d", what, len(got), len(want))
		return
	}
	for i := range want {
		if len(got[i]) != len(want[i]) {
			t.Errorf("%s: row %d has %d values, want %d", what, i, len(got[i]), len(want[i]))
			return
		}
		for j := range want[i] {
			if math.Float32bits(got[i][j]) != math.Float32bits(want[i][j]) {
				t.Errorf("%s: [%d][%d] = %v on the device, %v on the host", what, i, j, got[i][j], want[i][j])
				return
			}
		}
	}
}

func sameFeatures(t *testing.T, what string, want, got *Features) {
	t.Helper()
	sameRows(t, what+" pooled", want.Pooled, got.Pooled)
	sameRows(t, what+" projected", want.Projected, got.Projected)
	sameRows(t, what+" embeds", want.Embeds, got.Embeds)
}

// transfersOf runs f and returns the copies between the host and dev it
// made.
func transfersOf(dev *tensor.Device, f func()) tensor.Transfers {
	before := dev.Transfers()
	f()
	after := dev.Transfers()
	return tensor.Transfers{
		Uploads: after.Uploads - before.Uploads, Downloads: after.Downloads - before.Downloads,
		UploadBytes: after.UploadBytes - before.UploadBytes, DownloadBytes: after.DownloadBytes - before.DownloadBytes,
	}
}

// checkTransfers fails unless tr is exactly the uploads and downloads
// wanted.
func checkTransfers(t *testing.T, what string, tr tensor.Transfers, ups, upBytes, downs, downBytes int64) {
	t.Helper()
	want := tensor.Transfers{Uploads: ups, UploadBytes: upBytes, Downloads: downs, DownloadBytes: downBytes}
	if tr != want {
		t.Errorf("%s: transfers %+v, want %+v (inputs up, results down, nothing else)", what, tr, want)
	}
}

// TestDevice_clip runs the calls of TestParity_clip with the model on the
// checking device (whose tensors the host cannot read), loaded from the
// Hub directory and from OpenAI's TorchScript file: every feature equals
// the host model's bit for bit, and each call moves only its inputs up
// (pixels, an attention mask with holes) and its pooled and projected
// rows down. With int8 weights too.
func TestDevice_clip(t *testing.T) {
	f := loadClipFixture(t)
	host := f.model
	ctx := context.Background()
	cfg := host.Config()
	ids, mask := f.ints(t, "input_ids"), f.ints(t, "attention_mask")
	pixels := f.tensor(t, "pixel_values").Clone()
	n := int64(len(ids))
	textDown := 4 * n * int64(cfg.Text.HiddenSize+cfg.ProjectionDim)
	nImg := int64(pixels.Dim(0))
	imageDown := 4 * nImg * int64(cfg.Vision.HiddenSize+cfg.ProjectionDim)

	for _, wt := range []struct {
		name string
		typ  tensor.WeightType
	}{{"f32", tensor.WeightF32}, {"q8", tensor.WeightQ8}} {
		t.Run(wt.name, func(t *testing.T) {
			host := host
			if wt.typ != tensor.WeightF32 {
				h, err := Load(filepath.Join(f.dir, "model"), WithWeightType(wt.typ))
				if err != nil {
					t.Fatal(err)
				}
				defer h.Close()
				host = h
			}
			dev := tensor.NewCheckingDevice()
			m, err := Load(filepath.Join(f.dir, "model"), WithDevice(dev), WithWeightType(wt.typ))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if m.Device() != dev || host.Device() != nil {
				t.Fatalf("model on %s, host model on %s", m.Device(), host.Device())
			}

			// Text, padded with its mask: the ids are gather indices,
			// the features come down.
			want, err := host.TextFeatures(ctx, ids, mask)
			if err != nil {
				t.Fatal(err)
			}
			var got *Features
			tr := transfersOf(dev, func() { got, err = m.TextFeatures(ctx, ids, mask) })
			if err != nil {
				t.Fatal(err)
			}
			checkTransfers(t, "TextFeatures", tr, 0, 0, 2, textDown)
			sameFeatures(t, "text", want, got)

			// Unpadded, no mask.
			if want, err = host.TextFeatures(ctx, f.cases.InputIDs, nil); err != nil {
				t.Fatal(err)
			}
			if got, err = m.TextFeatures(ctx, f.cases.InputIDs, nil); err != nil {
				t.Fatal(err)
			}
			sameFeatures(t, "text (unpadded)", want, got)

			// A mask with a hole before the end token goes up.
			holed := make([][]int, len(mask))
			tmax := 0
			for i, row := range mask {
				holed[i] = append([]int(nil), row...)
				holed[i][1] = 0
				tmax = max(tmax, host.text.poolIndex(ids[i])+1)
			}
			if want, err = host.TextFeatures(ctx, ids, holed); err != nil {
				t.Fatal(err)
			}
			tr = transfersOf(dev, func() { got, err = m.TextFeatures(ctx, ids, holed) })
			if err != nil {
				t.Fatal(err)
			}
			checkTransfers(t, "TextFeatures (masked)", tr, 1, 4*n*int64(tmax), 2, textDown)
			sameFeatures(t, "text (masked)", want, got)

			// Images: the pixels go up.
			wantImg, err := host.ImageFeatures(ctx, pixels)
			if err != nil {
				t.Fatal(err)
			}
			var gotImg *Features
			tr = transfersOf(dev, func() { gotImg, err = m.ImageFeatures(ctx, pixels) })
			if err != nil {
				t.Fatal(err)
			}
			checkTransfers(t, "ImageFeatures", tr, 1, 4*int64(pixels.Len()), 2, imageDown)
			sameFeatures(t, "image", wantImg, gotImg)

			imgs := f.images(t)
			wantEmb, err := host.EmbedImages(ctx, imgs)
			if err != nil {
				t.Fatal(err)
			}
			gotEmb, err := m.EmbedImages(ctx, imgs)
			if err != nil {
				t.Fatal(err)
			}
			sameRows(t, "image embeds (files)", wantEmb, gotEmb)

			// Zero-shot from strings: host post-processing of the
			// downloaded embeddings.
			labels := f.cases.ZeroShot.Labels
			wantZS, err := host.ZeroShotBatch(ctx, imgs, labels, ZeroShotOptions{})
			if err != nil {
				t.Fatal(err)
			}
			gotZS, err := m.ZeroShotBatch(ctx, imgs, labels, ZeroShotOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for i := range wantZS {
				for j := range wantZS[i] {
					if gotZS[i][j] != wantZS[i][j] {
						t.Errorf("zero-shot image %d: %v, want %v", i, gotZS[i], wantZS[i])
						break
					}
				}
			}
			if m.Fingerprint() != host.Fingerprint() || m.LogitScale() != host.LogitScale() {
				t.Errorf("fingerprint %s, logit scale %v on the device; %s, %v on the host", m.Fingerprint(), m.LogitScale(), host.Fingerprint(), host.LogitScale())
			}
		})
	}

	// OpenAI's TorchScript checkpoint on the device.
	t.Run("openai-tiny-jit.pt", func(t *testing.T) {
		tiny := loadOpenAITiny(t, f)
		remap := map[int]int{}
		for i, id := range tiny.TokenIDs {
			remap[id] = i
		}
		var tids [][]int
		for _, row := range f.cases.InputIDs {
			r := make([]int, len(row))
			for j, id := range row {
				r[j] = remap[id]
			}
			tids = append(tids, r)
		}
		file := filepath.Join("testdata", "openai-tiny-jit.pt")
		h, err := LoadOpenAI(file, OpenAIOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		dev := tensor.NewCheckingDevice()
		m, err := LoadOpenAI(file, OpenAIOptions{}, WithDevice(dev))
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		want, err := h.TextFeatures(ctx, tids, nil)
		if err != nil {
			t.Fatal(err)
		}
		var got *Features
		tr := transfersOf(dev, func() { got, err = m.TextFeatures(ctx, tids, nil) })
		if err != nil {
			t.Fatal(err)
		}
		checkTransfers(t, "TextFeatures", tr, 0, 0, 2, textDown)
		sameFeatures(t, "openai text", want, got)
		wantImg, err := h.ImageFeatures(ctx, pixels)
		if err != nil {
			t.Fatal(err)
		}
		var gotImg *Features
		tr = transfersOf(dev, func() { gotImg, err = m.ImageFeatures(ctx, pixels) })
		if err != nil {
			t.Fatal(err)
		}
		checkTransfers(t, "ImageFeatures", tr, 1, 4*int64(pixels.Len()), 2, imageDown)
		sameFeatures(t, "openai image", wantImg, gotImg)
	})
}
