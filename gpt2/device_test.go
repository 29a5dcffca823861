package gpt2

import (
	"context"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/imageproc"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor"
)

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

// TestDevice_vit_gpt2 runs the vit-gpt2 fixture on the checking device and
// on the host: the encoder output, the decoder's teacher-forced logits
// (bitwise identical), greedy and beam-search captions (identical ids and
// text), with only pixels uploaded and one row of logits per sequence
// downloaded per decoding step.
func TestDevice_vit_gpt2(t *testing.T) {
	dir := testdata.Fixture(t, "vit-gpt2")
	var cases vitGPT2Cases
	readCases(t, dir, &cases)
	if len(cases.Captions) == 0 {
		t.Fatal("cases.json has no captions")
	}
	host, err := LoadCaptioner(filepath.Join(dir, "model"))
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	d := tensor.NewCheckingDevice()
	dc, err := LoadCaptioner(filepath.Join(dir, "model"), WithDevice(d))
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	if dc.Decoder().Device() != d {
		t.Fatalf("decoder on %v, want %v", dc.Decoder().Device(), d)
	}
	exp, err := checkpoint.OpenSafetensors(filepath.Join(dir, "expected.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Close()
	pixels, err := exp.Tensor("pixel_values")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// transfers runs f and returns how many copies it made between the
	// host and the device.
	transfers := func(f func()) (ups, downs int64) {
		before := d.Transfers()
		f()
		after := d.Transfers()
		return after.Uploads - before.Uploads, after.Downloads - before.Downloads
	}

	t.Run("decoder", func(t *testing.T) {
		// The decoder alone, from the host encoder's output uploaded.
		for i, cs := range cases.Captions {
			px := pixels.Slice(0, i, i+1).Contiguous()
			enc, err := host.Encode(ctx, px)
			if err != nil {
				t.Fatal(err)
			}
			denc := d.MustUpload(enc)
			prompt := cs.IDs[:len(cs.IDs)-1]
			hst, err := host.Decoder().NewState(1, enc)
			if err != nil {
				t.Fatal(err)
			}
			want, err := host.Decoder().Logits(ctx, hst, [][]int{prompt})
			if err != nil {
				t.Fatal(err)
			}
			var got *tensor.Tensor
			ups, downs := transfers(func() {
				dst, err := dc.Decoder().NewState(1, denc)
				if err != nil {
					t.Fatal(err)
				}
				if got, err = dc.Decoder().Logits(ctx, dst, [][]int{prompt}); err != nil {
					t.Fatal(err)
				}
				dst.Release()
			})
			if ups != 0 || downs != 0 {
				t.Errorf("%s: teacher-forced logits: %d uploads, %d downloads (want none)", cs.Image, ups, downs)
			}
			sameBits(t, cs.Image+": teacher-forced logits", want, got)
			tensor.Release(got)
			hst.Release()

			for _, beams := range []int{1, 3} {
				search := host.Search(CaptionOptions{MaxNewTokens: len(cs.IDs) - 1, Beams: beams})
				wantIDs, err := host.Decoder().Generate(ctx, enc, []int{host.start}, search)
				if err != nil {
					t.Fatal(err)
				}
				var ids []int
				ups, downs := transfers(func() {
					if ids, err = dc.Decoder().Generate(ctx, denc, []int{dc.start}, search); err != nil {
						t.Fatal(err)
					}
				})
				if !slices.Equal(ids, wantIDs) {
					t.Errorf("%s, %d beams: ids on the device %v, on the host %v", cs.Image, beams, ids, wantIDs)
				}
				if beams == 1 && !slices.Equal(ids, cs.IDs) {
					t.Errorf("%s: greedy ids %v, want the fixture's %v", cs.Image, ids, cs.IDs)
				}
				// One download of the next-token logits per step, at most
				// MaxLength−1 steps; nothing uploaded (token ids are indices).
				if ups != 0 || downs < 1 || downs > int64(search.MaxLength-1) || (beams == 1 && downs != int64(len(ids)-1)) {
					t.Errorf("%s, %d beams: %d uploads, %d downloads for %d ids", cs.Image, beams, ups, downs, len(ids))
				}
			}
			tensor.Release(denc)
		}
	})

	t.Run("caption", func(t *testing.T) {
		// The whole captioner: pixels in, ids out.
		for i, cs := range cases.Captions {
			px := pixels.Slice(0, i, i+1).Contiguous()
			want, err := host.Encode(ctx, px)
			if err != nil {
				t.Fatal(err)
			}
			var got *tensor.Tensor
			ups, downs := transfers(func() {
				if got, err = dc.Encode(ctx, px); err != nil {
					t.Fatal(err)
				}
			})
			if ups != 1 || downs != 0 {
				t.Errorf("%s: Encode: %d uploads, %d downloads (want the pixels up)", cs.Image, ups, downs)
			}
			sameBits(t, cs.Image+": encoder output", want, got)
			tensor.Release(got)
			for _, beams := range []int{1, 3} {
				opt := CaptionOptions{MaxNewTokens: len(cs.IDs) - 1, Beams: beams}
				wantCaps, err := host.CaptionPixels(ctx, px, opt)
				if err != nil {
					t.Fatal(err)
				}
				var caps []Caption
				ups, downs := transfers(func() {
					if caps, err = dc.CaptionPixels(ctx, px, opt); err != nil {
						t.Fatal(err)
					}
				})
				if !slices.Equal(caps[0].IDs, wantCaps[0].IDs) || caps[0].Text != wantCaps[0].Text {
					t.Errorf("%s, %d beams: caption on the device %+v, on the host %+v", cs.Image, beams, caps[0], wantCaps[0])
				}
				if beams == 1 && (!slices.Equal(caps[0].IDs, cs.IDs) || caps[0].Text != cs.Text) {
					t.Errorf("%s: greedy caption %+v, want the fixture's %v %q", cs.Image, caps[0], cs.IDs, cs.Text)
				}
				if ups != 1 || downs < 1 || downs > int64(len(cs.IDs)-1) {
					t.Errorf("%s, %d beams: %d uploads, %d downloads", cs.Image, beams, ups, downs)
				}
			}
		}
		// From the image file, as Caption runs it.
		cs := cases.Captions[0]
		img, err := imageproc.Decode(loadImage(t, cs.Image))
		if err != nil {
			t.Fatal(err)
		}
		got, err := dc.Caption(ctx, img, CaptionOptions{MaxNewTokens: len(cs.IDs) - 1})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.IDs, cs.IDs) || got.Text != cs.Text {
			t.Errorf("%s: Caption on the device %+v, want %v %q", cs.Image, got, cs.IDs, cs.Text)
		}
	})
}
