package gpt2

import (
	"context"
	"slices"
	"testing"

	"github.com/goformer/goformer/internal/expected"
	"github.com/goformer/goformer/tensor"
)

// TestDevice_vit_gpt2 runs the vit-gpt2 fixture on the checking device and
// on the host: the encoder output, the decoder's teacher-forced logits
// (bitwise identical), greedy and beam-search captions (identical ids and
// text), with only pixels uploaded and one row of logits per sequence
// downloaded per decoding step.
func TestDevice_vit_gpt2(t *testing.T) {
	cases, dir := readCases(t)
	host := loadCaptioner(t, dir)
	d := tensor.NewCheckingDevice()
	dc := loadCaptioner(t, dir, WithDevice(d))
	if dc.Decoder().Device() != d {
		t.Fatalf("decoder on %v, want %v", dc.Decoder().Device(), d)
	}
	pixels := expected.Tensor(t, "vit-gpt2", "pixel_values")
	ctx := context.Background()
	// Each caption's pixel values and the host encoder's output for them.
	pxs := make([]*tensor.Tensor, len(cases.Captions))
	encs := make([]*tensor.Tensor, len(cases.Captions))
	for i := range cases.Captions {
		pxs[i] = pixels.Slice(0, i, i+1).Contiguous()
		enc, err := host.Encode(ctx, pxs[i])
		if err != nil {
			t.Fatal(err)
		}
		encs[i] = enc
	}

	t.Run("decoder", func(t *testing.T) {
		// The decoder alone, from the host encoder's output uploaded.
		for i, cs := range cases.Captions {
			enc := encs[i]
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
			what := cs.Image + ": teacher-forced logits"
			tr := expected.OnDevice(t, d, what, func() error {
				dst, err := dc.Decoder().NewState(1, denc)
				if err != nil {
					return err
				}
				defer dst.Release()
				got, err = dc.Decoder().Logits(ctx, dst, [][]int{prompt})
				return err
			})
			expected.ExactTransfers(t, what, tr, tensor.Transfers{})
			expected.SameBits(t, what, want, got)
			tensor.Release(got)
			hst.Release()

			for _, beams := range []int{1, 3} {
				search := host.Search(CaptionOptions{MaxNewTokens: len(cs.IDs) - 1, Beams: beams})
				wantIDs, err := host.Decoder().Generate(ctx, enc, []int{host.start}, search)
				if err != nil {
					t.Fatal(err)
				}
				var ids []int
				tr := expected.OnDevice(t, d, "Generate", func() (err error) {
					ids, err = dc.Decoder().Generate(ctx, denc, []int{dc.start}, search)
					return err
				})
				ups, downs := tr.Uploads, tr.Downloads
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
			px, want := pxs[i], encs[i]
			var got *tensor.Tensor
			tr := expected.OnDevice(t, d, "Encode", func() (err error) {
				got, err = dc.Encode(ctx, px)
				return err
			})
			if tr.Uploads != 1 || tr.Downloads != 0 {
				t.Errorf("%s: Encode: %d uploads, %d downloads (want the pixels up)", cs.Image, tr.Uploads, tr.Downloads)
			}
			expected.SameBits(t, cs.Image+": encoder output", want, got)
			tensor.Release(got)
			for _, beams := range []int{1, 3} {
				opt := CaptionOptions{MaxNewTokens: len(cs.IDs) - 1, Beams: beams}
				wantCaps, err := host.CaptionPixels(ctx, px, opt)
				if err != nil {
					t.Fatal(err)
				}
				var caps []Caption
				tr := expected.OnDevice(t, d, "CaptionPixels", func() (err error) {
					caps, err = dc.CaptionPixels(ctx, px, opt)
					return err
				})
				ups, downs := tr.Uploads, tr.Downloads
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
		got, err := dc.Caption(ctx, loadImage(t, cs.Image), CaptionOptions{MaxNewTokens: len(cs.IDs) - 1})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.IDs, cs.IDs) || got.Text != cs.Text {
			t.Errorf("%s: Caption on the device %+v, want %v %q", cs.Image, got, cs.IDs, cs.Text)
		}
	})
}
