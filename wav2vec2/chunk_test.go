package wav2vec2

import (
	"context"
	"errors"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/goformer/goformer/tensor"
)

// TestChunkPlan checks the chunks against transformers' chunk_iter and
// rescale_stride, worked by hand: with a ratio of 1 the kept frames are
// the chunk's samples less its strides.
func TestChunkPlan(t *testing.T) {
	type span struct{ start, end, left, keep int }
	spans := func(cs []chunk) []span {
		var out []span
		for _, c := range cs {
			out = append(out, span{c.start, c.end, c.left, c.keep})
		}
		return out
	}
	for _, c := range []struct {
		n, chunk, left, right, ratio int
		want                         []span
	}{
		// chunk_iter(arange(100), …, 100, 0, 0): one chunk, nothing cut.
		{100, 100, 0, 0, 1, []span{{0, 100, 0, 100}}},
		{100, 30, 0, 0, 1, []span{{0, 30, 0, 30}, {30, 60, 0, 30}, {60, 90, 0, 30}, {90, 100, 0, 10}}},
		// Strides (chunk, left, right) (80, 0, 10) then (50, 20, 0).
		{100, 80, 20, 10, 1, []span{{0, 80, 0, 70}, {50, 100, 20, 50}}},
		{100, 60, 20, 10, 1, []span{{0, 60, 0, 50}, {30, 90, 20, 50}, {60, 100, 20, 40}}},
		// A chunk ending exactly at the end is the last one.
		{110, 60, 10, 0, 1, []span{{0, 60, 0, 60}, {50, 110, 10, 60}}},
		// A last piece no longer than its left stride is not yielded.
		{100, 50, 10, 10, 1, []span{{0, 50, 0, 40}, {30, 80, 10, 40}, {60, 100, 10, 40}}},
		{95, 50, 15, 15, 1, []span{{0, 50, 0, 35}, {20, 70, 15, 35}, {40, 90, 15, 35}, {60, 95, 15, 35}}},
		// rescale_stride's example: (160000, 16000, 16000) → (2000, 200, 200).
		{400000, 160000, 16000, 16000, 80, []span{{0, 160000, 0, 1800}, {128000, 288000, 200, 1800}, {256000, 400000, 200, 1800}}},
		// wav2vec2: 30 s chunks, 5 s strides, 320 samples a frame, a last
		// chunk of 172345 samples (round(538.58) = 539 frames).
		{800000 + 12345, 480000, 80000, 80000, 320, []span{{0, 480000, 0, 1250}, {320000, 800000, 250, 1250}, {640000, 812345, 250, 539}}},
		// Python's round takes halves to even: 800 samples at 320 a frame
		// are 2.5 frames → 2; strides of 0.5 frame → 0.
		{800, 1000, 0, 0, 320, []span{{0, 800, 0, 2}}},
		{20, 10, 1, 1, 2, []span{{0, 10, 0, 5}, {8, 18, 0, 5}, {16, 20, 0, 2}}},
	} {
		got := spans(chunkPlan(c.n, c.chunk, c.left, c.right, c.ratio))
		if !slices.Equal(got, c.want) {
			t.Errorf("chunkPlan(%d, %d, %d, %d, %d):\n got %v\nwant %v", c.n, c.chunk, c.left, c.right, c.ratio, got, c.want)
		}
	}
}

// localIDs is a stand-in for the network whose frame i depends only on
// samples [320i, 320i+400), as the feature encoder's receptive field, so
// that chunks with strides must give exactly the frames of one pass.
func localIDs(cfg Config) func(context.Context, []float32) ([]int, error) {
	return func(_ context.Context, pcm []float32) ([]int, error) {
		n := cfg.OutputFrames(len(pcm))
		if n < 1 {
			return nil, ErrInput
		}
		ids := make([]int, n)
		for i := range ids {
			h := fnv.New32a()
			for _, v := range pcm[320*i : min(320*i+400, len(pcm))] {
				b := math.Float32bits(v)
				h.Write([]byte{byte(b), byte(b >> 8), byte(b >> 16), byte(b >> 24)})
			}
			ids[i] = int(h.Sum32() % 32)
		}
		return ids, nil
	}
}

// TestStitchMatchesOnePass checks the stitching on a network of local
// frames: for any length and any chunk and stride (of at least one frame),
// the kept frames of the chunks are exactly the frames of one pass, and the
// network never sees more than a chunk's samples at once.
func TestStitchMatchesOnePass(t *testing.T) {
	cfg := DefaultConfig()
	ratio := cfg.InputsToLogitsRatio()
	longest := 0
	ids := func(ctx context.Context, pcm []float32) ([]int, error) {
		longest = max(longest, len(pcm))
		return localIDs(cfg)(ctx, pcm)
	}
	r := rand.New(rand.NewPCG(1, 2))
	ctx := context.Background()
	for trial := 0; trial < 300; trial++ {
		n := 400 + r.IntN(200000)
		stride := ratio * (1 + r.IntN(20))
		chunkLen := 2*stride + ratio*(1+r.IntN(60))
		pcm := make([]float32, n)
		for i := range pcm {
			pcm[i] = float32(r.NormFloat64())
		}
		want, err := localIDs(cfg)(ctx, pcm)
		if err != nil {
			t.Fatal(err)
		}
		plan := chunkPlan(n, chunkLen, stride, stride, ratio)
		longest = 0
		got, err := stitch(ctx, pcm, plan, cfg.OutputFrames, ids)
		if err != nil {
			t.Fatal(err)
		}
		if longest > chunkLen {
			t.Fatalf("trial %d: the network was given %d samples at once, chunks are %d", trial, longest, chunkLen)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("trial %d: %d samples, chunks of %d with strides of %d (%d chunks): %d frames, one pass %d",
				trial, n, chunkLen, stride, len(plan), len(got), len(want))
		}
	}
}

// TestStitchCancel checks that a cancelled context stops a chunked
// transcription before the next chunk.
func TestStitchCancel(t *testing.T) {
	cfg := DefaultConfig()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := 0
	ids := func(ctx context.Context, pcm []float32) ([]int, error) {
		calls++
		if calls == 2 {
			cancel()
		}
		return localIDs(cfg)(ctx, pcm)
	}
	pcm := make([]float32, 60*16000)
	plan := chunkPlan(len(pcm), 5*16000, 16000, 16000, 320)
	_, err := stitch(ctx, pcm, plan, cfg.OutputFrames, ids)
	if !errors.Is(err, context.Canceled) || calls != 2 {
		t.Errorf("cancelled in chunk 2 of %d: %v after %d chunks, want context.Canceled after 2", len(plan), err, calls)
	}
}

// TestChunkedTranscription runs the fixture model: the default options
// and a chunk at least as long as the audio give one pass's ids and text
// exactly (jfk16k.wav is 11 s); forced chunks of 4 s are compared frame by
// frame with one pass (a random-weight model attends to the whole input,
// so only most frames can agree); bad options are refused.
func TestChunkedTranscription(t *testing.T) {
	m, cs := loadFixture(t, "wav2vec2")
	pcm := jfk(t)
	ctx := context.Background()
	logits, err := m.Logits(ctx, pcm)
	if err != nil {
		t.Fatal(err)
	}
	onePass := tensor.ArgmaxRows(logits)
	// chunkIDs returns the frames' argmax ids of a chunked pass and the
	// number of chunks.
	chunkIDs := func(opt Options) ([]int, int) {
		t.Helper()
		plan, err := m.chunking(len(pcm), opt)
		if err != nil {
			t.Fatal(err)
		}
		ids, err := m.frameIDs(ctx, pcm, plan)
		if err != nil {
			t.Fatal(err)
		}
		return ids, len(plan)
	}
	seconds := float64(len(pcm)) / float64(m.SampleRate())
	for _, opt := range []Options{{}, {ChunkLength: seconds + 1}, {ChunkLength: -1}, {ChunkLength: math.Ceil(seconds), StrideLength: -1}} {
		if ids, chunks := chunkIDs(opt); !slices.Equal(ids, onePass) {
			t.Errorf("%+v (%d chunks): ids differ from one pass", opt, chunks)
		}
		res, err := m.Transcribe(ctx, pcm, opt)
		if err != nil {
			t.Fatal(err)
		}
		if res.Text != cs.Text {
			t.Errorf("%+v: text %q, want %q", opt, res.Text, cs.Text)
		}
	}

	ids, chunks := chunkIDs(Options{ChunkLength: 4})
	same := 0
	for i := range min(len(ids), len(onePass)) {
		if ids[i] == onePass[i] {
			same++
		}
	}
	t.Logf("chunks of 4 s (%d chunks): %d frames, one pass %d; %d agree (%.0f%%)", chunks, len(ids), len(onePass), same, 100*float64(same)/float64(len(onePass)))
	if len(ids) != len(onePass) {
		t.Errorf("chunks of 4 s: %d frames, one pass %d", len(ids), len(onePass))
	}
	if same < len(onePass)/2 {
		t.Errorf("chunks of 4 s: only %d of %d frames agree with one pass", same, len(onePass))
	}
	res, err := m.Transcribe(ctx, pcm, Options{ChunkLength: 4, WordTimestamps: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Text != m.Tokenizer().Decode(ids) || len(res.Words) == 0 {
		t.Errorf("chunked Transcribe: %q with %d words, want the chunked ids' text", res.Text, len(res.Words))
	}

	for _, bad := range []Options{
		{ChunkLength: 2, StrideLength: 1},   // no room between the strides
		{ChunkLength: 2, StrideLength: 1.5}, // strides longer than the chunk
		{ChunkLength: 0.01},                 // shorter than the receptive field
		{ChunkLength: math.NaN()},
		{ChunkLength: 10, StrideLength: math.Inf(1)},
	} {
		if _, err := m.Transcribe(ctx, pcm, bad); !errors.Is(err, ErrInput) {
			t.Errorf("%+v: %v, want ErrInput", bad, err)
		}
	}
}
