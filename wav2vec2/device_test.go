package wav2vec2

import (
	"context"
	"slices"
	"testing"

	"github.com/goformer/goformer/internal/expected"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

func TestDevice_wav2vec2(t *testing.T) { testDevice(t, "wav2vec2") }

func TestDevice_hubert(t *testing.T) { testDevice(t, "hubert") }

// testDevice runs a fixture's forward passes (the network from the
// reference input values, the model from the audio file, greedy CTC in
// one pass and in chunks, a padded batch with and without the attention
// mask) on the checking device and on the host: identical logits and
// text, with only the inputs uploaded and the results downloaded.
func testDevice(t *testing.T, fixture string) {
	host, cs := loadFixture(t, fixture)
	d := tensor.NewCheckingDevice()
	dm, _ := loadFixture(t, fixture, nn.WithDevice(d))
	if dm.Network().Device() != d {
		t.Fatalf("network on %v, want %v", dm.Network().Device(), d)
	}
	iv := expected.Tensor(t, fixture, "input_values").Data()
	pcm := jfk(t)
	ctx := context.Background()
	t.Run("logits", func(t *testing.T) {
		want, err := host.Network().Logits(ctx, iv)
		if err != nil {
			t.Fatal(err)
		}
		var got *tensor.Tensor
		expected.CheckTransfers(t, "Network.Logits", d, 1, 0, func() {
			if got, err = dm.Network().Logits(ctx, iv); err != nil {
				t.Fatal(err)
			}
		})
		expected.SameBits(t, "logits from input_values", want, got)
		if ids, wantIDs := tensor.ArgmaxRows(got), tensor.ArgmaxRows(want); !slices.Equal(ids, wantIDs) {
			t.Errorf("argmax ids on the device %v, on the host %v", ids, wantIDs)
		}
		tensor.Release(got)

		want, err = host.Logits(ctx, pcm)
		if err != nil {
			t.Fatal(err)
		}
		expected.CheckTransfers(t, "Model.Logits", d, 1, 0, func() {
			if got, err = dm.Logits(ctx, pcm); err != nil {
				t.Fatal(err)
			}
		})
		expected.SameBits(t, "logits from the wav file", want, got)
		tensor.Release(got)
	})

	t.Run("transcribe", func(t *testing.T) {
		for _, opt := range []Options{{}, {WordTimestamps: true}, {ChunkLength: 4, StrideLength: 1}} {
			want, err := host.Transcribe(ctx, pcm, opt)
			if err != nil {
				t.Fatal(err)
			}
			chunks := int64(1)
			if plan, _ := dm.chunking(len(pcm), opt); plan != nil {
				chunks = int64(len(plan))
			}
			var got *Result
			// Per pass: the samples up, the argmax ids down.
			expected.CheckTransfers(t, "Transcribe", d, chunks, chunks, func() {
				if got, err = dm.Transcribe(ctx, pcm, opt); err != nil {
					t.Fatal(err)
				}
			})
			if got.Text != want.Text || !slices.Equal(got.Words, want.Words) {
				t.Errorf("%+v: transcription on the device %+v, on the host %+v", opt, got, want)
			}
			if opt == (Options{}) && got.Text != cs.Text {
				t.Errorf("text %q, want the fixture's %q", got.Text, cs.Text)
			}
		}
	})

	t.Run("batch", func(t *testing.T) {
		samples := []int{len(pcm) * 2 / 3, len(pcm)}
		if cs.Batch != nil {
			samples = cs.Batch.Samples
		}
		clips := make([][]float32, len(samples))
		for i, s := range samples {
			if s > len(pcm) {
				t.Fatalf("clip %d: %d samples, the audio has %d", i, s, len(pcm))
			}
			clips[i] = pcm[:s]
		}
		rows, err := host.InputValuesBatch(clips)
		if err != nil {
			t.Fatal(err)
		}
		for i := range rows {
			rows[i] = rows[i][:samples[i]]
		}
		for _, opt := range []ForwardOptions{{}, {NoAttentionMask: true}} {
			want, err := host.Network().Forward(ctx, rows, opt)
			if err != nil {
				t.Fatal(err)
			}
			var got *BatchLogits
			ups := int64(len(rows)) // each clip's samples, and the mask
			if !opt.NoAttentionMask {
				ups++
			}
			expected.CheckTransfers(t, "Network.Forward", d, ups, 0, func() {
				if got, err = dm.Network().Forward(ctx, rows, opt); err != nil {
					t.Fatal(err)
				}
			})
			expected.SameBits(t, "batch logits", want.Logits, got.Logits)
			if !slices.Equal(got.Frames, want.Frames) {
				t.Errorf("frames %v, want %v", got.Frames, want.Frames)
			}
			tensor.Release(got.Logits)
		}
		want, err := host.TranscribeBatch(ctx, clips, Options{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := dm.TranscribeBatch(ctx, clips, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if got[i].Text != want[i].Text {
				t.Errorf("TranscribeBatch clip %d: %q on the device, %q on the host", i, got[i].Text, want[i].Text)
			}
			if cs.Batch != nil && got[i].Text != cs.Batch.Text[i] {
				t.Errorf("TranscribeBatch clip %d: %q, want the fixture's %q", i, got[i].Text, cs.Batch.Text[i])
			}
		}
	})
}
