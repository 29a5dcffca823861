package tokenizer

import (
	"fmt"
	"math"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"
)

// PieceType is the type of a piece of a SentencePiece model
// (ModelProto.SentencePiece.Type).
type PieceType int32

// The piece types of a SentencePiece model.
const (
	PieceNormal      PieceType = 1 // an ordinary piece, learned by the trainer
	PieceUnknown     PieceType = 2 // the unknown piece, <unk>
	PieceControl     PieceType = 3 // a control symbol such as <s> or </s>, never produced from text
	PieceUserDefined PieceType = 4 // a user-defined symbol, always cut out of the text whole
	PieceUnused      PieceType = 5 // a piece kept in the vocabulary but never produced
	PieceByte        PieceType = 6 // a byte-fallback piece <0xXX>
)

// String returns the name SentencePiece gives the type.
func (t PieceType) String() string {
	switch t {
	case PieceNormal:
		return "NORMAL"
	case PieceUnknown:
		return "UNKNOWN"
	case PieceControl:
		return "CONTROL"
	case PieceUserDefined:
		return "USER_DEFINED"
	case PieceUnused:
		return "UNUSED"
	case PieceByte:
		return "BYTE"
	}
	return "PieceType(" + strconv.Itoa(int(t)) + ")"
}

// SPModelType is the algorithm of a SentencePiece model
// (TrainerSpec.ModelType).
type SPModelType int32

// The SentencePiece model types.
const (
	SPUnigram SPModelType = 1
	SPBPE     SPModelType = 2
	SPWord    SPModelType = 3
	SPChar    SPModelType = 4
)

// String returns the name SentencePiece gives the model type.
func (t SPModelType) String() string {
	switch t {
	case SPUnigram:
		return "UNIGRAM"
	case SPBPE:
		return "BPE"
	case SPWord:
		return "WORD"
	case SPChar:
		return "CHAR"
	}
	return "SPModelType(" + strconv.Itoa(int(t)) + ")"
}

// SPPiece is one piece of a SentencePiece vocabulary; its id is its index.
type SPPiece struct {
	Piece string
	Score float32
	Type  PieceType
}

// SPTrainerSpec holds the fields of a SentencePiece TrainerSpec that
// matter for encoding, with the proto's defaults where the file is silent.
type SPTrainerSpec struct {
	ModelType               SPModelType // default UNIGRAM
	VocabSize               int         // default 8000
	ByteFallback            bool        // unknown characters become <0xXX> pieces
	TreatWhitespaceAsSuffix bool
	SplitDigits             bool
	UnkID, BosID, EosID     int // defaults 0, 1, 2
	PadID                   int // default -1 (none)
	UnkPiece                string
	BosPiece                string
	EosPiece                string
	PadPiece                string
}

// SPNormalizerSpec is a SentencePiece NormalizerSpec.
type SPNormalizerSpec struct {
	Name                   string // "identity" for Llama, "nmt_nfkc" by default when training
	PrecompiledCharsmap    []byte // the compiled normalization rules; empty for identity
	AddDummyPrefix         bool   // default true: a "▁" is put before the text
	RemoveExtraWhitespaces bool   // default true: leading, trailing and repeated spaces are dropped
	EscapeWhitespaces      bool   // default true: spaces become "▁"
	NormalizationRuleTSV   string
}

// SentencePieceModel is the content of a SentencePiece model file
// (tokenizer.model, a serialized sentencepiece.ModelProto): the pieces with
// their scores and types, the trainer and the normalizer settings.
type SentencePieceModel struct {
	Pieces     []SPPiece
	Trainer    SPTrainerSpec
	Normalizer SPNormalizerSpec
	// HasDenormalizer reports a denormalizer_spec with rules, which this
	// package does not apply.
	HasDenormalizer bool
}

// ReadSentencePieceModel reads and parses a SentencePiece model file.
func ReadSentencePieceModel(path string) (*SentencePieceModel, error) {
	b, err := readFile(path)
	if err != nil {
		return nil, err
	}
	m, err := ParseSentencePieceModel(b)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", path, err)
	}
	return m, nil
}

// maxPieceBytes bounds the length of one piece; real pieces are a few
// dozen bytes at most.
const maxPieceBytes = 1 << 16

// ParseSentencePieceModel parses a serialized sentencepiece.ModelProto.
// Fields this package does not use are skipped; a truncated or malformed
// message, more than 2^21 pieces or a piece over 64 KiB gives an error
// wrapping ErrFormat. Memory use is bounded by a small multiple of
// len(data).
func ParseSentencePieceModel(data []byte) (*SentencePieceModel, error) {
	m := &SentencePieceModel{
		Trainer: SPTrainerSpec{
			ModelType: SPUnigram, VocabSize: 8000, UnkID: 0, BosID: 1, EosID: 2, PadID: -1,
			UnkPiece: "<unk>", BosPiece: "<s>", EosPiece: "</s>", PadPiece: "<pad>",
		},
		Normalizer: SPNormalizerSpec{AddDummyPrefix: true, RemoveExtraWhitespaces: true, EscapeWhitespaces: true},
	}
	err := protoFields(data, "ModelProto", func(f protoField) error {
		switch {
		case f.num == 1 && f.typ == protowire.BytesType:
			if len(m.Pieces) >= maxTokenID {
				return fmt.Errorf("%w: more than %d pieces", ErrFormat, maxTokenID)
			}
			p, err := parsePiece(f.bytes)
			if err != nil {
				return fmt.Errorf("piece %d: %w", len(m.Pieces), err)
			}
			m.Pieces = append(m.Pieces, p)
		case f.num == 2 && f.typ == protowire.BytesType:
			return parseTrainerSpec(f.bytes, &m.Trainer)
		case f.num == 3 && f.typ == protowire.BytesType:
			return parseNormalizerSpec(f.bytes, &m.Normalizer, "normalizer_spec")
		case f.num == 5 && f.typ == protowire.BytesType:
			var d SPNormalizerSpec
			if err := parseNormalizerSpec(f.bytes, &d, "denormalizer_spec"); err != nil {
				return err
			}
			if len(d.PrecompiledCharsmap) > 0 || d.NormalizationRuleTSV != "" {
				m.HasDenormalizer = true
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// protoField is one field of a protobuf message: its number, wire type and
// value (a varint or fixed value in v, a length-delimited one in bytes).
type protoField struct {
	num   protowire.Number
	typ   protowire.Type
	v     uint64
	bytes []byte
}

// protoFields calls fn for every field of a serialized message, in order.
// Groups are skipped.
func protoFields(b []byte, msg string, fn func(protoField) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: %s: bad field tag: %v", ErrFormat, msg, protowire.ParseError(n))
		}
		b = b[n:]
		f := protoField{num: num, typ: typ}
		switch typ {
		case protowire.VarintType:
			f.v, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var v uint32
			v, n = protowire.ConsumeFixed32(b)
			f.v = uint64(v)
		case protowire.Fixed64Type:
			f.v, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			f.bytes, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return fmt.Errorf("%w: %s: field %d: %v", ErrFormat, msg, num, protowire.ParseError(n))
		}
		b = b[n:]
		if typ == protowire.StartGroupType {
			continue
		}
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}

func parsePiece(b []byte) (SPPiece, error) {
	p := SPPiece{Type: PieceNormal}
	err := protoFields(b, "SentencePiece", func(f protoField) error {
		switch {
		case f.num == 1 && f.typ == protowire.BytesType:
			if len(f.bytes) > maxPieceBytes {
				return fmt.Errorf("%w: piece of %d bytes", ErrFormat, len(f.bytes))
			}
			p.Piece = string(f.bytes)
		case f.num == 2 && f.typ == protowire.Fixed32Type:
			p.Score = math.Float32frombits(uint32(f.v))
		case f.num == 3 && f.typ == protowire.VarintType:
			p.Type = PieceType(int32(f.v))
		}
		return nil
	})
	return p, err
}

// protoInt32 converts a varint to an int32 field value as protobuf does
// (negative numbers are sign-extended to 64 bits on the wire).
func protoInt32(v uint64) int { return int(int32(v)) }

func parseTrainerSpec(b []byte, t *SPTrainerSpec) error {
	return protoFields(b, "trainer_spec", func(f protoField) error {
		if f.typ == protowire.VarintType {
			switch f.num {
			case 3:
				t.ModelType = SPModelType(int32(f.v))
			case 4:
				t.VocabSize = protoInt32(f.v)
			case 24:
				t.TreatWhitespaceAsSuffix = f.v != 0
			case 25:
				t.SplitDigits = f.v != 0
			case 35:
				t.ByteFallback = f.v != 0
			case 40:
				t.UnkID = protoInt32(f.v)
			case 41:
				t.BosID = protoInt32(f.v)
			case 42:
				t.EosID = protoInt32(f.v)
			case 43:
				t.PadID = protoInt32(f.v)
			}
			return nil
		}
		if f.typ == protowire.BytesType {
			if len(f.bytes) > maxPieceBytes {
				return nil // a corpus path or the like; nothing read here is that long
			}
			switch f.num {
			case 45:
				t.UnkPiece = string(f.bytes)
			case 46:
				t.BosPiece = string(f.bytes)
			case 47:
				t.EosPiece = string(f.bytes)
			case 48:
				t.PadPiece = string(f.bytes)
			}
		}
		return nil
	})
}

func parseNormalizerSpec(b []byte, n *SPNormalizerSpec, msg string) error {
	return protoFields(b, msg, func(f protoField) error {
		switch {
		case f.num == 1 && f.typ == protowire.BytesType:
			n.Name = string(f.bytes)
		case f.num == 2 && f.typ == protowire.BytesType:
			n.PrecompiledCharsmap = append([]byte(nil), f.bytes...)
		case f.num == 3 && f.typ == protowire.VarintType:
			n.AddDummyPrefix = f.v != 0
		case f.num == 4 && f.typ == protowire.VarintType:
			n.RemoveExtraWhitespaces = f.v != 0
		case f.num == 5 && f.typ == protowire.VarintType:
			n.EscapeWhitespaces = f.v != 0
		case f.num == 6 && f.typ == protowire.BytesType:
			n.NormalizationRuleTSV = string(f.bytes)
		}
		return nil
	})
}
