package wav2vec2

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/goformer/goformer/audio"
	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

func TestDevice_wav2vec2(t *testing.T) { testDevice(t, "wav2vec2") }

func TestDevice_hubert(t *testing.T) { testDevice(t, "hubert") }

// sameBits fails unless got (a device tensor) holds exactly want's values
// (a host tensor), downloading it.
func sameBits(t *testing.T, what string, want, got *tensor.Tensor) {
	t.Helper()
	if got.Device() == nil {
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

// testDevice runs a fixture's forward passes (the network from the
// reference input values, the model from the audio file, greedy CTC in
// one pass and in chunks, a padded batch with and without the attention
// mask) on the checking device and on the host: identical logits and
// text, with only the inputs uploaded and the results downloaded.
func testDevice(t *testing.T, fixture string) {
	dir := testdata.Fixture(t, fixture)
	raw, err := os.ReadFile(filepath.Join(dir, "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cs hubertCases
	if err := json.Unmarshal(raw, &cs); err != nil {
		t.Fatal(err)
	}
	host, err := Load(filepath.Join(dir, "model"))
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	d := tensor.NewCheckingDevice()
	dm, err := Load(filepath.Join(dir, "model"), nn.WithDevice(d))
	if err != nil {
		t.Fatal(err)
	}
	defer dm.Close()
	if dm.Network().Device() != d {
		t.Fatalf("network on %v, want %v", dm.Network().Device(), d)
	}
	exp, err := checkpoint.OpenSafetensors(filepath.Join(dir, "expected.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Close()
	iv := expectTensor(t, exp, "input_values").Contiguous().Data()
	pcm, err := audio.Load16kFile(testdata.Path(t, "media", "audio", "jfk16k.wav"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// transfers runs f and checks how many copies it made between the host
	// and the device.
	transfers := func(t *testing.T, what string, ups, downs int64, f func()) {
		t.Helper()
		before := d.Transfers()
		f()
		after := d.Transfers()
		if u, dn := after.Uploads-before.Uploads, after.Downloads-before.Downloads; u != ups || dn != downs {
			t.Errorf("%s: %d uploads and %d downloads, want %d and %d", what, u, dn, ups, downs)
		}
	}

	t.Run("logits", func(t *testing.T) {
		want, err := host.Network().Logits(ctx, iv)
		if err != nil {
			t.Fatal(err)
		}
		var got *tensor.Tensor
		transfers(t, "Network.Logits", 1, 0, func() {
			if got, err = dm.Network().Logits(ctx, iv); err != nil {
				t.Fatal(err)
			}
		})
		sameBits(t, "logits from input_values", want, got)
		if ids, wantIDs := tensor.ArgmaxRows(got), tensor.ArgmaxRows(want); !slices.Equal(ids, wantIDs) {
			t.Errorf("argmax ids on the device %v, on the host %v", ids, wantIDs)
		}
		tensor.Release(got)

		want, err = host.Logits(ctx, pcm)
		if err != nil {
			t.Fatal(err)
		}
		transfers(t, "Model.Logits", 1, 0, func() {
			if got, err = dm.Logits(ctx, pcm); err != nil {
				t.Fatal(err)
			}
		})
		sameBits(t, "logits from the wav file", want, got)
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
			var got *Transcription
			// Per pass: the samples up, the argmax ids down.
			transfers(t, "Transcribe", chunks, chunks, func() {
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
			transfers(t, "Network.Forward", ups, 0, func() {
				if got, err = dm.Network().Forward(ctx, rows, opt); err != nil {
					t.Fatal(err)
				}
			})
			sameBits(t, "batch logits", want.Logits, got.Logits)
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
