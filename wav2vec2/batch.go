package wav2vec2

import (
	"context"
	"fmt"
	"math"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/tensor"
)

// BatchLogits is the CTC output of a padded batch of clips (Network.Forward,
// Model.LogitsBatch).
type BatchLogits struct {
	// Logits holds [clips, frames, vocab_size], frames being those of the
	// longest clip. The rows of a shorter clip past its Frames are padding,
	// computed as transformers computes them, and carry no meaning. They
	// are on the network's device (tensor.ToHost brings them to the host).
	Logits *tensor.Tensor
	// Frames holds the number of valid frames of each clip
	// (Config.OutputFrames of its length).
	Frames []int
}

// Clip returns the valid logits [Frames[i], vocab_size] of clip i, a view
// of Logits.
func (b *BatchLogits) Clip(i int) *tensor.Tensor {
	row := b.Logits.Index(i)
	v := row.Slice(0, 0, b.Frames[i])
	tensor.Release(row)
	return v
}

// ForwardOptions configure Network.Forward. The zero value pads and masks
// as transformers does with an attention mask.
type ForwardOptions struct {
	// NoAttentionMask runs the zero-padded batch without an attention mask,
	// as transformers does when the feature extractor returns none
	// (return_attention_mask false, the group-norm base checkpoints): the
	// padding then takes part in attention (and, with feat_extract_norm
	// "group", in the first layer's normalisation) and changes the logits
	// of the shorter clips.
	NoAttentionMask bool
}

// Forward runs the network on a batch of clips of normalised samples
// (input_values) of any lengths, as transformers runs a padded batch: each
// clip zero-padded to the longest, and, unless opt.NoAttentionMask, the
// sample-level attention mask (ones over each clip's samples) turned into
// the feature-level one by the convolution lengths, the hidden states of
// padded frames zeroed before the position embedding and padded frames
// ignored as attention keys. With the mask and feat_extract_norm "layer"
// (the large and HuBERT checkpoints) each clip's valid logits equal those
// of the clip alone up to rounding.
//
// A clip shorter than the feature encoder's receptive field, or an empty
// batch, is an error wrapping ErrInput.
func (n *Network) Forward(ctx context.Context, inputValues [][]float32, opt ForwardOptions) (*BatchLogits, error) {
	if n.head == nil {
		return nil, fmt.Errorf("wav2vec2: %w: the checkpoint has no CTC head (lm_head)", checkpoint.ErrMissingWeights)
	}
	if len(inputValues) == 0 {
		return nil, fmt.Errorf("%w: an empty batch", ErrInput)
	}
	longest, ragged := 0, false
	frames := make([]int, len(inputValues))
	for i, clip := range inputValues {
		if frames[i] = n.cfg.OutputFrames(len(clip)); frames[i] < 1 {
			return nil, fmt.Errorf("%w: clip %d: %d samples are shorter than the feature encoder's receptive field", ErrInput, i, len(clip))
		}
		ragged = ragged || (i > 0 && len(clip) != longest)
		longest = max(longest, len(clip))
	}
	rows := inputValues
	if ragged {
		rows = make([][]float32, len(inputValues))
		for i, clip := range inputValues {
			if len(clip) == longest {
				rows[i] = clip
				continue
			}
			rows[i] = make([]float32, longest)
			copy(rows[i], clip)
		}
	}
	var maskFrames []int
	if !opt.NoAttentionMask && ragged {
		maskFrames = frames
	}
	h, err := n.encode(ctx, rows, maskFrames)
	if err != nil {
		return nil, err
	}
	logits := n.head.Forward(h)
	tensor.Release(h)
	return &BatchLogits{Logits: logits, Frames: frames}, nil
}

// paddingMask zeroes the hidden states h [B, T, D] of the frames of each
// row past frames[row] and returns the additive attention mask [B, 1, T]
// for them (the lowest float32 on padded keys, as transformers uses
// torch.finfo(dtype).min) on h's device, or nil when no row is padded. The
// mask is made on the host from the lengths and uploaded.
func paddingMask(h *tensor.Tensor, frames []int) (*tensor.Tensor, error) {
	b, t, d := h.Dim(0), h.Dim(1), h.Dim(2)
	padded := false
	for _, f := range frames {
		padded = padded || f < t
	}
	if !padded {
		return nil, nil
	}
	dev := h.Device()
	md := make([]float32, b*t)
	zero := dev.New(1, d)
	defer tensor.Release(zero)
	for i, f := range frames {
		if f >= t {
			continue
		}
		for j := f; j < t; j++ {
			md[i*t+j] = -math.MaxFloat32
		}
		row := h.Index(i)
		pad := row.Slice(0, f, t)
		z, err := zero.Expand(t-f, d)
		if err == nil {
			err = tensor.Copy(pad, z)
		}
		tensor.Release(pad)
		tensor.Release(row)
		if err != nil {
			return nil, err
		}
	}
	return dev.FromHost(md, b, 1, t)
}

// InputValuesBatch returns the model input of several clips of mono samples
// at SampleRate() as Wav2Vec2FeatureExtractor makes it with padding=True:
// rows of the longest clip's length, zero-padded. With do_normalize each
// clip is normalised over its own samples when the feature extractor
// returns an attention mask (return_attention_mask, as HuBERT and the
// large checkpoints do), else each padded row is normalised as a whole, its
// padding included, as transformers does. Non-finite samples and clips
// shorter than the feature encoder's receptive field are errors wrapping
// ErrInput.
func (m *Model) InputValuesBatch(pcms [][]float32) ([][]float32, error) {
	if len(pcms) == 0 {
		return nil, fmt.Errorf("%w: an empty batch", ErrInput)
	}
	longest := 0
	for i, pcm := range pcms {
		for j, v := range pcm {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("%w: clip %d: sample %d is %v", ErrInput, i, j, v)
			}
		}
		if m.net.cfg.OutputFrames(len(pcm)) < 1 {
			return nil, fmt.Errorf("%w: clip %d: %d samples (%.1f ms) are too short for the feature encoder", ErrInput, i, len(pcm), 1000*float64(len(pcm))/float64(m.fe.SamplingRate))
		}
		longest = max(longest, len(pcm))
	}
	rows := make([][]float32, len(pcms))
	for i, pcm := range pcms {
		row := make([]float32, longest)
		switch {
		case m.fe.DoNormalize && m.fe.ReturnAttentionMask:
			copy(row, Normalize(pcm))
		case m.fe.DoNormalize:
			copy(row, pcm)
			row = Normalize(row)
		default:
			copy(row, pcm)
		}
		rows[i] = row
	}
	return rows, nil
}

// LogitsBatch returns the CTC logits of several clips of mono samples at
// SampleRate() run as one padded batch, as transformers runs the output of
// the feature extractor (InputValuesBatch) with its attention mask when it
// returns one. Frames gives each clip's valid frames. The logits are on
// the model's device.
func (m *Model) LogitsBatch(ctx context.Context, pcms [][]float32) (*BatchLogits, error) {
	rows, err := m.InputValuesBatch(pcms)
	if err != nil {
		return nil, err
	}
	if !m.fe.ReturnAttentionMask {
		// The whole padded rows, no mask; the frames that count are still
		// those of each clip.
		res, err := m.net.Forward(ctx, rows, ForwardOptions{NoAttentionMask: true})
		if err != nil {
			return nil, err
		}
		for i, pcm := range pcms {
			res.Frames[i] = m.net.cfg.OutputFrames(len(pcm))
		}
		return res, nil
	}
	for i, pcm := range pcms {
		rows[i] = rows[i][:len(pcm)] // Forward pads again with zeros
	}
	return m.net.Forward(ctx, rows, ForwardOptions{})
}

// TranscribeBatch transcribes several clips of mono samples at
// SampleRate() in one padded batch (LogitsBatch) by greedy CTC decoding of
// each clip's valid frames. With an attention mask (return_attention_mask,
// as HuBERT and the large checkpoints have) each result equals
// Transcribe's for the clip alone up to rounding; without one (the
// group-norm base checkpoints) the padding changes the shorter clips'
// results, as it does in transformers.
func (m *Model) TranscribeBatch(ctx context.Context, pcms [][]float32, opt Options) ([]*Result, error) {
	if m.tok == nil {
		return nil, errNoTokenizer
	}
	res, err := m.LogitsBatch(ctx, pcms)
	if err != nil {
		return nil, err
	}
	defer tensor.Release(res.Logits)
	out := make([]*Result, len(pcms))
	for i := range pcms {
		clip := res.Clip(i)
		ids := tensor.ArgmaxRows(clip)
		tensor.Release(clip)
		out[i] = m.transcription(ids, opt)
	}
	return out, nil
}

// transcription decodes the argmax ids of a clip's frames, with word
// timings when opt asks for them.
func (m *Model) transcription(ids []int, opt Options) *Result {
	res := &Result{Text: m.tok.Decode(ids)}
	if opt.WordTimestamps {
		sec := float64(m.net.cfg.InputsToLogitsRatio()) / float64(m.fe.SamplingRate)
		res.Words = []Word{}
		for _, w := range m.tok.Words(ids) {
			res.Words = append(res.Words, Word{Text: w.Text, Start: float64(w.Start) * sec, End: float64(w.End) * sec})
		}
	}
	return res
}
