package clip

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/goformer/goformer/internal/expected"
	"github.com/goformer/goformer/tensor"
)

// sameFeatures fails unless got holds exactly want's rows, bit for bit.
func sameFeatures(t *testing.T, what string, want, got *Features) {
	t.Helper()
	expected.SameRows(t, what+" pooled", want.Pooled, got.Pooled)
	expected.SameRows(t, what+" projected", want.Projected, got.Projected)
	expected.SameRows(t, what+" embeds", want.Embeds, got.Embeds)
}

// deviceFeatures runs call on the host model and on m, the same model on
// dev: the features must be identical, and the device call must make
// exactly the transfers tr.
func deviceFeatures(t *testing.T, what string, dev *tensor.Device, host, m *Model, tr tensor.Transfers, call func(*Model) (*Features, error)) {
	t.Helper()
	want, got, gotTr := expected.OnBoth(t, dev, what, host, m, call)
	expected.ExactTransfers(t, what, gotTr, tr)
	sameFeatures(t, what, want, got)
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
	imageTr := tensor.Transfers{Uploads: 1, UploadBytes: 4 * int64(pixels.Len()), Downloads: 2,
		DownloadBytes: 4 * nImg * int64(cfg.Vision.HiddenSize+cfg.ProjectionDim)}

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
			deviceFeatures(t, "text", dev, host, m, tensor.Transfers{Downloads: 2, DownloadBytes: textDown}, func(m *Model) (*Features, error) {
				return m.TextFeatures(ctx, ids, mask)
			})
			// Unpadded, no mask.
			deviceFeatures(t, "text (unpadded)", dev, host, m, tensor.Transfers{Downloads: 2, DownloadBytes: textDown}, func(m *Model) (*Features, error) {
				return m.TextFeatures(ctx, f.cases.InputIDs, nil)
			})

			// A mask with a hole before the end token goes up.
			holed := make([][]int, len(mask))
			tmax := 0
			for i, row := range mask {
				holed[i] = append([]int(nil), row...)
				holed[i][1] = 0
				tmax = max(tmax, host.text.poolIndex(ids[i])+1)
			}
			deviceFeatures(t, "text (masked)", dev, host, m, tensor.Transfers{Uploads: 1, UploadBytes: 4 * n * int64(tmax), Downloads: 2, DownloadBytes: textDown}, func(m *Model) (*Features, error) {
				return m.TextFeatures(ctx, ids, holed)
			})

			// Images: the pixels go up.
			deviceFeatures(t, "image", dev, host, m, imageTr, func(m *Model) (*Features, error) {
				return m.ImageFeatures(ctx, pixels)
			})

			imgs := f.images(t)
			wantEmb, gotEmb, _ := expected.OnBoth(t, dev, "EmbedImages", host, m, func(m *Model) ([][]float32, error) { return m.EmbedImages(ctx, imgs) })
			expected.SameRows(t, "image embeds (files)", wantEmb, gotEmb)

			// Zero-shot from strings: host post-processing of the
			// downloaded embeddings.
			labels := f.cases.ZeroShot.Labels
			wantZS, gotZS, _ := expected.OnBoth(t, dev, "ZeroShotBatch", host, m, func(m *Model) ([][]LabelScore, error) {
				return m.ZeroShotBatch(ctx, imgs, labels, ZeroShotOptions{})
			})
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
		tids := loadOpenAITiny(t, f).inputIDs(f)
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
		deviceFeatures(t, "openai text", dev, h, m, tensor.Transfers{Downloads: 2, DownloadBytes: textDown}, func(m *Model) (*Features, error) {
			return m.TextFeatures(ctx, tids, nil)
		})
		deviceFeatures(t, "openai image", dev, h, m, imageTr, func(m *Model) (*Features, error) {
			return m.ImageFeatures(ctx, pixels)
		})
	})
}
