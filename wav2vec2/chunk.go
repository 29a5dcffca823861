package wav2vec2

import (
	"context"
	"fmt"
	"math"

	"github.com/goformer/goformer/tensor"
)

// DefaultChunkLength is the chunk length, in seconds, Transcribe uses when
// Options.ChunkLength is zero: audio up to this long is recognised in one
// pass, longer audio in chunks of this length with strides of a sixth of it
// (5 s) on each side.
const DefaultChunkLength = 30.0

// chunk is one piece of a chunked transcription: samples [start, end) of
// the audio, of whose CTC frames those in [left, keep) are kept (the others
// are the strides shared with the neighbouring chunks).
type chunk struct {
	start, end  int
	left, keep  int
	first, last bool
}

// chunkPlan returns the chunks transformers' speech-recognition pipeline
// cuts n samples into for chunk_length_s and stride_length_s (its
// chunk_iter, then rescale_stride to logits frames): chunks of chunkLen
// samples every chunkLen−strideLeft−strideRight samples, the last one as
// long as the audio lasts; each chunk's strides rescaled to its frame count
// round(len/ratio) and cut from its frames, except the left stride of the
// first chunk and the right stride of the last. chunkLen must exceed
// strideLeft+strideRight.
func chunkPlan(n, chunkLen, strideLeft, strideRight, ratio int) []chunk {
	step := chunkLen - strideLeft - strideRight
	var out []chunk
	for start := 0; start < n; start += step {
		end := min(start+chunkLen, n)
		c := chunk{start: start, end: end, first: start == 0, last: start+chunkLen >= n}
		left, right := strideLeft, strideRight
		if c.first {
			left = 0
		}
		if c.last {
			right = 0
		}
		// rescale_stride: Python's round (half to even) on the same doubles.
		inputN := end - start
		tokenN := int(math.RoundToEven(float64(inputN) * (1 / float64(ratio))))
		c.left = int(math.RoundToEven(float64(left) / float64(inputN) * float64(tokenN)))
		c.keep = tokenN - int(math.RoundToEven(float64(right)/float64(inputN)*float64(tokenN)))
		if inputN > left {
			out = append(out, c)
		}
		if c.last {
			break
		}
	}
	return out
}

// chunking returns the plan Transcribe follows for n samples under opt:
// nil for one pass, else the chunks. Options it cannot honour wrap
// ErrInput.
func (m *Model) chunking(n int, opt Options) ([]chunk, error) {
	cl, sl := opt.ChunkLength, opt.StrideLength
	if math.IsNaN(cl) || math.IsInf(cl, 0) || math.IsNaN(sl) || math.IsInf(sl, 0) {
		return nil, fmt.Errorf("%w: chunk length %v s, stride length %v s", ErrInput, cl, sl)
	}
	if cl < 0 {
		return nil, nil // one pass, whatever the length
	}
	explicit := cl > 0
	if !explicit {
		cl = DefaultChunkLength
	}
	switch {
	case sl == 0:
		sl = cl / 6
	case sl < 0:
		sl = 0
	}
	rate := float64(m.fe.SamplingRate)
	ratio := m.net.cfg.InputsToLogitsRatio()
	align := func(seconds float64) int {
		return int(math.RoundToEven(seconds*rate/float64(ratio))) * ratio
	}
	chunkLen, stride := align(cl), align(sl)
	if !explicit && n <= chunkLen {
		return nil, nil // the default: short audio in one pass
	}
	if chunkLen <= 2*stride {
		return nil, fmt.Errorf("%w: a chunk of %d samples (%g s) must be longer than its strides, 2×%d samples (%g s each side)", ErrInput, chunkLen, cl, stride, sl)
	}
	if m.net.cfg.OutputFrames(chunkLen) < 1 {
		return nil, fmt.Errorf("%w: a chunk of %d samples (%g s) is shorter than the feature encoder's receptive field", ErrInput, chunkLen, cl)
	}
	return chunkPlan(n, chunkLen, stride, stride, ratio), nil
}

// frameIDs returns the greedy CTC id of every frame of pcm: the argmax of
// the logits of one pass, or of each chunk of plan with its strides cut,
// concatenated. Only one chunk's input values and logits are held at a
// time; the context is checked between chunks (and inside the network).
func (m *Model) frameIDs(ctx context.Context, pcm []float32, plan []chunk) ([]int, error) {
	ids := func(ctx context.Context, pcm []float32) ([]int, error) {
		logits, err := m.Logits(ctx, pcm)
		if err != nil {
			return nil, err
		}
		ids := tensor.ArgmaxRows(logits)
		tensor.Release(logits)
		return ids, nil
	}
	if plan == nil {
		return ids(ctx, pcm)
	}
	for i, v := range pcm {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("%w: sample %d is %v", ErrInput, i, v)
		}
	}
	return stitch(ctx, pcm, plan, m.net.cfg.OutputFrames, ids)
}

// stitch runs ids (the greedy id of every frame of some samples) on each
// chunk of plan in turn and concatenates the frames each chunk keeps.
// frames gives the number of frames of n samples.
func stitch(ctx context.Context, pcm []float32, plan []chunk, frames func(n int) int, ids func(context.Context, []float32) ([]int, error)) ([]int, error) {
	out := make([]int, 0, max(frames(len(pcm)), 0)+len(plan))
	for _, c := range plan {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if !c.first && frames(c.end-c.start) < 1 {
			// A last chunk too short for a single frame: one pass gets no
			// frame from these samples either (transformers' pipeline
			// would fail on it).
			continue
		}
		got, err := ids(ctx, pcm[c.start:c.end])
		if err != nil {
			return nil, err
		}
		// Python slicing: items[left:keep], clamped to the frames there are.
		lo, hi := min(max(c.left, 0), len(got)), min(max(c.keep, 0), len(got))
		if lo < hi {
			out = append(out, got[lo:hi]...)
		}
	}
	return out, nil
}
