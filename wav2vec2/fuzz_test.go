package wav2vec2

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/nn"
)

// w2vParams estimates the number of floats a network of config c allocates,
// in float64 so that absurd dimensions cannot overflow.
func w2vParams(c Config) float64 {
	h, in, l := float64(c.HiddenSize), float64(c.IntermediateSize), float64(c.NumHiddenLayers)
	n, prev := 0.0, 1.0
	for i := range c.ConvDim {
		d := float64(c.ConvDim[i])
		n += d*prev*float64(c.ConvKernel[i]) + 4*d
		prev = d
	}
	n += prev*h + 4*prev + 2*h
	n += l * (4*h*h + 2*h*in + 10*h)
	n += h*h/float64(c.NumConvPosEmbeddingGroups)*float64(c.NumConvPosEmbeddings) + float64(c.NumConvPosEmbeddings) + 2*h
	return n + float64(c.VocabSize)*(h+1)
}

// FuzzParseConfig checks wav2vec2 config.json parsing: no panics, errors
// wrap nn.ErrConfig or nn.ErrUnsupportedArchitecture, the frame arithmetic
// of an accepted config does not panic, and building a small network from
// it without weights fails with checkpoint.ErrMissingWeights (or nn.ErrConfig for
// an unknown activation).
func FuzzParseConfig(f *testing.F) {
	for _, fx := range []string{"wav2vec2", "hubert", "whisper", "vit"} {
		testdata.FuzzSeedFiles(f, 1<<20, []string{"fixtures", fx, "model", "config.json"})
	}
	f.Add([]byte(`{"architectures":["Wav2Vec2ForCTC"],"model_type":"wav2vec2","hidden_size":8,"num_hidden_layers":1,` +
		`"num_attention_heads":2,"intermediate_size":8,"vocab_size":5,"conv_dim":[4,4],"conv_stride":[5,2],"conv_kernel":[10,3],` +
		`"num_conv_pos_embeddings":4,"num_conv_pos_embedding_groups":2,"feat_extract_norm":"layer","do_stable_layer_norm":true}`))
	f.Add([]byte(`{"architectures":["HubertForCTC"],"hidden_size":8,"num_hidden_layers":1,"num_attention_heads":2,` +
		`"conv_dim":[4],"conv_stride":[5],"conv_kernel":[10],"num_conv_pos_embeddings":4,"num_conv_pos_embedding_groups":2,"feat_proj_layer_norm":false}`))
	f.Add([]byte(`{"hidden_size":4,"num_hidden_layers":0,"num_attention_heads":1,"intermediate_size":2,"vocab_size":3,` +
		`"conv_dim":[2],"conv_stride":[1],"conv_kernel":[1],"num_conv_pos_embeddings":1,"num_conv_pos_embedding_groups":4,"conv_bias":true}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig("fuzz.json", data)
		if !testdata.Parsed(t, cfg, err, nn.ErrConfig, nn.ErrUnsupportedArchitecture) {
			return
		}
		for _, n := range []int{0, 1, 400, 16000} {
			if fr := cfg.OutputFrames(n); fr < 0 || fr > n {
				t.Fatalf("OutputFrames(%d) = %d", n, fr)
			}
		}
		if w2vParams(cfg) > 1<<18 {
			return
		}
		_, err = NewNetwork(cfg, checkpoint.NewStore("fuzz", nil).Root())
		if !errors.Is(err, checkpoint.ErrMissingWeights) && !errors.Is(err, nn.ErrConfig) {
			t.Fatalf("building without weights: want checkpoint.ErrMissingWeights, got %v", err)
		}
	})
}

// FuzzCTCTokenizer loads arbitrary vocab.json and tokenizer_config.json
// files and decodes ids taken from the fuzzer's bytes: loading may fail
// with ErrTokenizer, decoding never fails, its text is valid UTF-8 (JSON
// decoding replaces invalid bytes) and word spans lie within the frames.
func FuzzCTCTokenizer(f *testing.F) {
	var vocab, tcfg []byte
	if root, ok := testdata.Root(); ok {
		vocab, _ = os.ReadFile(filepath.Join(root, "fixtures", "wav2vec2", "model", "vocab.json"))
		tcfg, _ = os.ReadFile(filepath.Join(root, "fixtures", "wav2vec2", "model", "tokenizer_config.json"))
		if vocab != nil {
			f.Add(vocab, tcfg, []byte{0, 0, 5, 5, 4, 4, 0, 7, 4, 9, 0, 0, 1, 2, 3})
		}
	}
	f.Add([]byte(`{"<pad>":0,"<s>":1,"</s>":2,"<unk>":3,"|":4,"E":5,"'":6,"A":7}`),
		[]byte(`{"do_lower_case":true,"word_delimiter_token":{"content":"|"},"replace_word_delimiter_char":"_"}`),
		[]byte{5, 5, 0, 5, 4, 4, 7, 6, 255, 3})
	f.Add([]byte(`{"a":0,"a":1,"":2}`), []byte(`{"pad_token":null,"unk_token":"a","clean_up_tokenization_spaces":false}`), []byte{2, 2, 1, 0})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, vocab, tcfg, idBytes []byte) {
		if err := os.WriteFile(filepath.Join(dir, "vocab.json"), vocab, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), tcfg, 0o644); err != nil {
			t.Fatal(err)
		}
		tok, err := LoadCTCTokenizer(dir)
		if err != nil {
			testdata.WantError(t, "LoadCTCTokenizer", err, ErrTokenizer)
			return
		}
		ids := make([]int, len(idBytes))
		for i, b := range idBytes {
			ids[i] = int(int8(b)) // negative and out-of-vocabulary ids too
		}
		text := tok.Decode(ids)
		words := tok.Words(ids)
		if !utf8.ValidString(text) {
			t.Fatalf("invalid UTF-8 text %q", text)
		}
		for _, w := range words {
			if w.Start < 0 || w.End > len(ids) || w.Start >= w.End {
				t.Fatalf("word %q spans [%d, %d) of %d frames", w.Text, w.Start, w.End, len(ids))
			}
		}
	})
}
