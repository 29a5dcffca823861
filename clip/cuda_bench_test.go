//go:build cuda

package clip

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/goformer/goformer/cuda/cudatest"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor"
)

// BenchmarkCUDA_CLIP times clip-vit-base-patch32 (configs/, random
// weights) on a CUDA device (cuda:0), the workloads of issue 20's table:
// image features of batches of 1 and 1024 preprocessed images (pixel
// values on the device already) and text features of 1 and 1024 texts of
// 77 tokens (the context length), with float32 and F16 weights. Each call
// brings the unit-norm embeddings back to the host (ImageFeatures and
// TextFeatures return them), so the time includes the work. It skips
// where no device opens, unless GOFORMER_REQUIRE_CUDA=1.
func BenchmarkCUDA_CLIP(b *testing.B) {
	d := cudatest.Open(b)
	cfg, err := LoadConfig(filepath.Join(testdata.Path(b, "configs", "clip-vit-base-patch32"), "config.json"))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, wt := range []tensor.WeightType{tensor.WeightF32, tensor.WeightF16} {
		st := randomStore(cfg, 1)
		st.Device, st.WeightType = d, wt
		m, err := New(cfg, st.Root())
		if err != nil {
			b.Fatal(err)
		}
		v := cfg.Vision
		for _, bs := range []int{1, 1024} {
			b.Run(fmt.Sprintf("%v/image/batch%d", wt, bs), func(b *testing.B) {
				r := rand.New(rand.NewPCG(2, uint64(bs)))
				pix := tensor.New(bs, v.NumChannels, v.ImageSize, v.ImageSize)
				for i, p := 0, pix.Data(); i < len(p); i++ {
					p[i] = float32(r.NormFloat64())
				}
				dpix, err := d.Upload(pix)
				if err != nil {
					b.Fatal(err)
				}
				defer tensor.Release(dpix)
				run := func() {
					if _, err := m.ImageFeatures(ctx, dpix); err != nil {
						b.Fatal(err)
					}
				}
				testdata.TimeCalls(b, "batch", run)
				b.ReportMetric(float64(b.N*bs)/b.Elapsed().Seconds(), "images/s")
			})
		}
		t := cfg.Text
		for _, bs := range []int{1, 1024} {
			b.Run(fmt.Sprintf("%v/text/%dx%d", wt, bs, t.MaxPositionEmbeddings), func(b *testing.B) {
				r := rand.New(rand.NewPCG(3, uint64(bs)))
				ids := make([][]int, bs)
				for i := range ids {
					row := make([]int, t.MaxPositionEmbeddings)
					row[0] = t.BosTokenID
					for j := 1; j < len(row)-1; j++ {
						row[j] = r.IntN(t.VocabSize - 2)
					}
					row[len(row)-1] = t.EosTokenID
					ids[i] = row
				}
				run := func() {
					if _, err := m.TextFeatures(ctx, ids, nil); err != nil {
						b.Fatal(err)
					}
				}
				testdata.TimeCalls(b, "batch", run)
			})
		}
		m.Close()
		st.Close()
	}
}
