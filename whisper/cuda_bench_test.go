//go:build cuda

package whisper

import (
	"context"
	"runtime/debug"
	"testing"

	"github.com/goformer/goformer/cuda/cudatest"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor"
)

// cudaModel builds whisper-base (configs/, random weights, linear weights
// packed as wt) on a CUDA device (cuda:0), skipping where none opens
// unless GOFORMER_REQUIRE_CUDA=1. The device and the store are closed
// when the benchmark ends.
func cudaModel(b *testing.B, wt tensor.WeightType) *Model {
	d := cudatest.Open(b)
	cfg, err := LoadConfig(testdata.Path(b, "configs", "whisper-base", "config.json"))
	if err != nil {
		b.Fatal(err)
	}
	st := randomStore(cfg)
	st.Device, st.WeightType = d, wt
	m, err := New(cfg, st.Root())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return m
}

// onDevice runs f, turning a panic (a host read of a device tensor: a
// forward pass not moved onto devices) into a failure that says so.
func onDevice(b *testing.B, what string, f func()) {
	defer func() {
		if r := recover(); r != nil {
			b.Fatalf("%s on cuda panicked (is whisper's forward pass on devices?): %v\n%s", what, r, debug.Stack())
		}
	}()
	f()
}

// BenchmarkCUDA_WhisperBaseEncoder encodes one 30-second window at
// whisper-base size on a CUDA device (issue 20's table): the log-mel
// input is on the host (uploaded by Encode, 0.96 MB), the encoder output
// stays on the device; the time includes waiting for the work.
func BenchmarkCUDA_WhisperBaseEncoder(b *testing.B) {
	for _, wt := range []tensor.WeightType{tensor.WeightF32, tensor.WeightF16} {
		m := cudaModel(b, wt)
		b.Run(wt.String(), func(b *testing.B) {
			mel := tensor.New(m.Config.NumMelBins, m.Config.NumFrames())
			ctx := context.Background()
			run := func() {
				enc, err := m.Encode(ctx, mel)
				if err != nil {
					b.Fatal(err)
				}
				// Wait for the work: one value down.
				one := enc.Slice(1, 0, 1).Slice(2, 0, 1)
				if _, err := tensor.HostData(one); err != nil {
					b.Fatal(err)
				}
				tensor.Release(one)
				tensor.Release(enc)
			}
			onDevice(b, "Encode", run)
			b.ResetTimer()
			for range b.N {
				run()
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "ms/window")
		})
	}
}

// BenchmarkCUDA_WhisperBaseDecoding measures greedy decoding at
// whisper-base size on a CUDA device (issue 20's table): per token, the
// decoder layers over the KV cache and the cross-attention keys and
// values of a 30-second window, the vocabulary projection and its argmax
// (the id comes down to the host, as in Transcribe), after a 4-token
// prompt; 60 tokens a run.
func BenchmarkCUDA_WhisperBaseDecoding(b *testing.B) {
	const steps = 60
	for _, wt := range []tensor.WeightType{tensor.WeightF32, tensor.WeightF16} {
		m := cudaModel(b, wt)
		cfg := m.Config
		ctx := context.Background()
		var enc *tensor.Tensor
		onDevice(b, "Encode", func() {
			var err error
			if enc, err = m.Encode(ctx, tensor.New(cfg.NumMelBins, cfg.NumFrames())); err != nil {
				b.Fatal(err)
			}
		})
		b.Run(wt.String(), func(b *testing.B) {
			session := func(timed bool) {
				if timed {
					b.StopTimer()
				}
				dec, h := startDecoder(b, m, enc, false)
				if timed {
					b.StartTimer()
				}
				feed := [][]int{{0}}
				for range steps {
					hl := h.Slice(1, h.Dim(1)-1, h.Dim(1))
					l, err := dec.Logits(hl)
					if err != nil {
						b.Fatal(err)
					}
					feed[0][0] = tensor.ArgmaxRows(l)[0]
					tensor.Release(l)
					tensor.Release(hl)
					tensor.Release(h)
					if h, err = dec.Forward(ctx, feed, nil); err != nil {
						b.Fatal(err)
					}
				}
				tensor.Release(h)
				if timed {
					b.StopTimer()
				}
				dec.Release()
				if timed {
					b.StartTimer()
				}
			}
			onDevice(b, "decoding", func() { session(false) })
			b.ResetTimer()
			for range b.N {
				session(true)
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N*steps), "ms/token")
		})
	}
}
