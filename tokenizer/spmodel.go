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

var pieceTypeNames = map[PieceType]string{
	PieceNormal: "NORMAL", PieceUnknown: "UNKNOWN", PieceControl: "CONTROL",
	PieceUserDefined: "USER_DEFINED", PieceUnused: "UNUSED", PieceByte: "BYTE",
}

// String returns the name SentencePiece gives the type.
func (t PieceType) String() string { return enumName(pieceTypeNames, t, "PieceType") }

// enumName returns the name of v in names, or typ(v) for a value without
// one.
func enumName[T ~int32](names map[T]string, v T, typ string) string {
	if s, ok := names[v]; ok {
		return s
	}
	return typ + "(" + strconv.Itoa(int(v)) + ")"
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

var spModelTypeNames = map[SPModelType]string{SPUnigram: "UNIGRAM", SPBPE: "BPE", SPWord: "WORD", SPChar: "CHAR"}

// String returns the name SentencePiece gives the model type.
func (t SPModelType) String() string { return enumName(spModelTypeNames, t, "SPModelType") }

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

// protoScalars maps the field numbers of a message to the Go fields that
// its varint (int32 or bool) and string fields fill.
type protoScalars struct {
	ints    map[protowire.Number]*int
	bools   map[protowire.Number]*bool
	strings map[protowire.Number]*string
}

// set stores f in the Go field of its number when it has the wire type of
// that field.
func (s protoScalars) set(f protoField) {
	switch f.typ {
	case protowire.VarintType:
		if p := s.ints[f.num]; p != nil {
			*p = protoInt32(f.v)
		}
		if p := s.bools[f.num]; p != nil {
			*p = f.v != 0
		}
	case protowire.BytesType:
		if p := s.strings[f.num]; p != nil {
			*p = string(f.bytes)
		}
	}
}

func parseTrainerSpec(b []byte, t *SPTrainerSpec) error {
	fields := protoScalars{
		ints:    map[protowire.Number]*int{4: &t.VocabSize, 40: &t.UnkID, 41: &t.BosID, 42: &t.EosID, 43: &t.PadID},
		bools:   map[protowire.Number]*bool{24: &t.TreatWhitespaceAsSuffix, 25: &t.SplitDigits, 35: &t.ByteFallback},
		strings: map[protowire.Number]*string{45: &t.UnkPiece, 46: &t.BosPiece, 47: &t.EosPiece, 48: &t.PadPiece},
	}
	return protoFields(b, "trainer_spec", func(f protoField) error {
		switch {
		case f.num == 3 && f.typ == protowire.VarintType:
			t.ModelType = SPModelType(int32(f.v))
		case f.typ == protowire.BytesType && len(f.bytes) > maxPieceBytes:
			// a corpus path or the like; nothing read here is that long
		default:
			fields.set(f)
		}
		return nil
	})
}

func parseNormalizerSpec(b []byte, n *SPNormalizerSpec, msg string) error {
	fields := protoScalars{
		bools:   map[protowire.Number]*bool{3: &n.AddDummyPrefix, 4: &n.RemoveExtraWhitespaces, 5: &n.EscapeWhitespaces},
		strings: map[protowire.Number]*string{1: &n.Name, 6: &n.NormalizationRuleTSV},
	}
	return protoFields(b, msg, func(f protoField) error {
		if f.num == 2 && f.typ == protowire.BytesType {
			n.PrecompiledCharsmap = append([]byte(nil), f.bytes...)
		}
		fields.set(f)
		return nil
	})
}
