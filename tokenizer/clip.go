package tokenizer

import (
	"fmt"

	"golang.org/x/text/unicode/norm"
)

// CLIP is CLIP's tokenizer: text is NFC-normalized and lowercased (accents
// are kept), split with CLIP's regex (whitespace dropped, letters together,
// each digit alone), and each word is byte-level BPE encoded with "</w>"
// marking its end. Encode frames the ids with <|startoftext|> and
// <|endoftext|>; like transformers' tokenizer(text) it does not truncate:
// EncodeBatch, or EncodeWith with MaxLen: MaxLen(), truncates to the model's
// context (77) keeping the end token, as CLIP's processor does. It is safe
// for concurrent use.
type CLIP struct {
	*BPE
	bos, eos int
}

// clipMergeLimit is how many merges transformers' CLIPTokenizer reads.
const clipMergeLimit = 49152 - 256 - 2

var clipDefaults = map[string]string{
	"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
	"unk_token": "<|endoftext|>", "pad_token": "<|endoftext|>",
}

// clipNormalize is what CLIP does to text before splitting it: NFC (part of
// ftfy's fix_text) and lowercase. Collapsing whitespace runs, which CLIP
// also does, changes no token since the split drops whitespace.
func clipNormalize(s string) string {
	if !norm.NFC.IsNormalString(s) {
		s = norm.NFC.String(s)
	}
	return lowerFull(s)
}

// LoadCLIP loads CLIP's tokenizer from a HuggingFace directory (vocab.json,
// merges.txt and, when present, special_tokens_map.json and
// tokenizer_config.json, whose model_max_length sets the truncation length)
// or from its tokenizer.json.
func LoadCLIP(dir string, opts ...Option) (*CLIP, error) {
	if onlyTokenizerJSON(dir, "vocab.json") {
		b, err := tokenizerJSONAs(dir, "CLIP BPE", opts, func(b *BPE) bool { return b.model.suffix != "" })
		if err != nil {
			return nil, err
		}
		c := &CLIP{BPE: b, bos: -1, eos: -1}
		if len(b.prefixIDs) > 0 {
			c.bos = b.prefixIDs[0]
		}
		if len(b.suffixIDs) > 0 {
			c.eos = b.suffixIDs[len(b.suffixIDs)-1]
		}
		if c.batchLen == 0 {
			c.batchLen = 77
		}
		return c, nil
	}
	o := buildOptions(opts)
	v, mv, merges, cfg, err := readBPEDir(dir, clipMergeLimit, clipDefaults)
	if err != nil {
		return nil, err
	}
	v.maxInput = o.maxInput
	m := newBPEModel()
	m.byteLevel = true
	m.suffix = "</w>"
	m.setVocab(mv)
	for i, p := range merges {
		m.addMerge(p[0], p[1], i)
	}
	m.finishInit()
	m.cache = newIDCache(o.cacheSize)
	m.unk = cfg.roleID(v, "unk_token")
	c := &CLIP{BPE: &BPE{vocab: v, model: m}}
	c.bos, c.eos = cfg.roleID(v, "bos_token"), cfg.roleID(v, "eos_token")
	if c.bos < 0 || c.eos < 0 {
		return nil, fmt.Errorf("tokenizer: %s: %w: no <|startoftext|>/<|endoftext|> tokens", dir, ErrFormat)
	}
	c.normalize = clipNormalize
	c.pretok = func(s string, emit func(string)) { splitCLIP(s, false, false, emit) }
	c.pieceSpecial = map[string]int{}
	for _, role := range []string{"bos_token", "eos_token"} {
		if t, ok := cfg.roles[role]; ok {
			c.pieceSpecial[t] = v.index[t]
		}
	}
	c.pretokFor = func(allow func(*addedToken) bool) pretokenizer {
		sot := allowedText(allow, "<|startoftext|>")
		eot := allowedText(allow, "<|endoftext|>")
		return func(s string, emit func(string)) { splitCLIP(s, sot, eot, emit) }
	}
	c.prefixIDs, c.suffixIDs = []int{c.bos}, []int{c.eos}
	c.batchLen = 77
	if cfg.modelMaxLength > 0 && cfg.modelMaxLength < 1<<20 {
		c.batchLen = cfg.modelMaxLength
	}
	c.padID = cfg.roleID(v, "pad_token")
	c.cleanup = cleanupSetting(o, cfg, true)
	c.decodeSuffix = "</w>"
	c.finishBytes(true)
	return c, nil
}

// StartID returns the id of <|startoftext|>.
func (c *CLIP) StartID() int { return c.bos }

// EndID returns the id of <|endoftext|>, which ends every sequence and pads
// batches.
func (c *CLIP) EndID() int { return c.eos }

// MaxLen returns the model's context length (77 for CLIP's models), which
// EncodeBatch truncates and pads to by default.
func (c *CLIP) MaxLen() int { return c.batchLen }
