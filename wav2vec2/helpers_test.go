package wav2vec2

import (
	"math"
	"testing"

	"github.com/goformer/goformer/audio"
	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

// maxAbs is the largest absolute difference (NaN counts as infinite).
func maxAbs(a, b []float32) float64 {
	d, _ := testdata.MaxAbsDiff(a, b)
	return d
}

// fixtureCases is the cases.json of the wav2vec2 and hubert fixtures: the
// jfk case and, for hubert, a zero-padded batch of clips (each the first
// samples[i] samples of jfk) with or without an attention mask.
type fixtureCases struct {
	Audio     string `json:"audio"`
	ArgmaxIDs []int  `json:"argmax_ids"`
	Text      string `json:"text"`
	Batch     *struct {
		Samples       []int    `json:"samples"`
		AttentionMask bool     `json:"attention_mask"`
		Frames        []int    `json:"frames"`
		ArgmaxIDs     [][]int  `json:"argmax_ids"`
		Text          []string `json:"text"`
	} `json:"batch"`
}

// loadFixture loads the model of a fixture with opts (closed when the test
// ends) and reads its cases.json.
func loadFixture(t *testing.T, fixture string, opts ...nn.LoadOption) (*Model, fixtureCases) {
	t.Helper()
	var cs fixtureCases
	dir := testdata.Cases(t, fixture, &cs)
	return testdata.LoadModel(t, dir, Load, opts...), cs
}

// jfk returns the fixtures' waveform, media/audio/jfk16k.wav (jfk.flac at
// 16 kHz).
func jfk(t *testing.T) []float32 {
	t.Helper()
	pcm, err := audio.Load16kFile(testdata.Path(t, "media", "audio", "jfk16k.wav"))
	if err != nil {
		t.Fatal(err)
	}
	return pcm
}

// smallVocab is the vocabulary of the small networks' seven outputs.
var smallVocab = map[string]int{"<pad>": 0, "|": 1, "A": 2, "B": 3, "<s>": 4, "</s>": 5, "<unk>": 6}

// smallNetwork builds variant v's small network (smallConfig) on seeded
// random weights, returning its config and store too.
func smallNetwork(t *testing.T, v variant, seed uint64) (*Network, Config, *checkpoint.Store) {
	t.Helper()
	c := smallConfig(v)
	s := randomStore(t, c, v, seed)
	n, err := NewNetwork(c, s.Root())
	if err != nil {
		t.Fatal(err)
	}
	return n, c, s
}

// smallModel is a Model on n with a tokenizer of smallVocab and the
// feature extractor fe.
func smallModel(t *testing.T, n *Network, fe FeatureExtractorConfig) *Model {
	t.Helper()
	tok, err := NewCTCTokenizer(smallVocab, DefaultTokenizerConfig())
	if err != nil {
		t.Fatal(err)
	}
	m, err := (&Model{net: n}).WithTokenizer(tok).WithFeatureExtractor(fe)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// refDiff returns max |got − want| between logits [frames, vocab] and the
// float64 reference.
func refDiff(got *tensor.Tensor, want mat) float64 {
	var d float64
	for a := range want {
		for b := range want[a] {
			d = math.Max(d, math.Abs(float64(got.At(a, b))-want[a][b]))
		}
	}
	return d
}
