package ber

import (
	"bytes"
	"io"
)

func readByte(reader io.Reader) (byte, error) {
	if br, ok := reader.(io.ByteReader); ok { // rosterd patch: no allocation per byte
		return br.ReadByte()
	}
	bytes := make([]byte, 1)
	_, err := io.ReadFull(reader, bytes)
	if err != nil {
		return 0, err
	}
	return bytes[0], nil
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func isEOCPacket(p *Packet) bool {
	return p != nil &&
		p.Tag == TagEOC &&
		p.ClassType == ClassUniversal &&
		p.TagType == TypePrimitive &&
		len(p.ByteValue) == 0 &&
		len(p.Children) == 0
}

// rosterd patch: the decoder reads a definite-length content whole, then
// decodes what it holds from memory without copying it again.

// maxPreallocated is the largest content allocated whole before its bytes
// arrive; a larger one (a length a peer may lie about) grows as it is read.
const maxPreallocated = 1 << 20

// readContent reads the n bytes of a content: a slice of the content it is
// part of when reader is one, else a new buffer. Fewer bytes are io.EOF.
func readContent(reader io.Reader, n int) ([]byte, error) {
	if sr, ok := reader.(*sliceReader); ok {
		if n > len(sr.b)-sr.off {
			sr.off = len(sr.b)
			return nil, io.EOF
		}
		b := sr.b[sr.off : sr.off+n : sr.off+n]
		sr.off += n
		return b, nil
	}
	if n == 0 {
		return []byte{}, nil
	}
	if n <= maxPreallocated {
		b := make([]byte, n)
		if _, err := io.ReadFull(reader, b); err != nil {
			if err == io.ErrUnexpectedEOF {
				err = io.EOF
			}
			return nil, err
		}
		return b, nil
	}
	b, err := io.ReadAll(io.LimitReader(reader, int64(n)))
	if err == nil && len(b) < n {
		err = io.EOF
	}
	return b, err
}

// sliceReader reads a content already in memory.
type sliceReader struct {
	b   []byte
	off int
}

func (r *sliceReader) Read(p []byte) (int, error) {
	if r.off >= len(r.b) {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.off:])
	r.off += n
	return n, nil
}

func (r *sliceReader) ReadByte() (byte, error) {
	if r.off >= len(r.b) {
		return 0, io.EOF
	}
	c := r.b[r.off]
	r.off++
	return c, nil
}

// packetData holds a decoded packet and its Data buffer together.
type packetData struct {
	p    Packet
	data bytes.Buffer
}

// noChildren is the Children of every decoded primitive: not nil, as
// upstream's, and of no capacity, so an append never writes into it.
var noChildren = make([]*Packet, 0)

// countChildren is how many encodings content holds one after another, so
// a constructed packet's children and their Children slice are allocated
// once each; a content it cannot walk gets 0 (the decoder then allocates
// child by child and reports what is wrong).
func countChildren(content []byte) int {
	n, i := 0, 0
	for i < len(content) {
		if content[i]&0x1f == 0x1f { // high tag number: skip its bytes
			i++
			for i < len(content) && content[i]&0x80 != 0 {
				i++
			}
		}
		i++
		if i >= len(content) {
			return 0
		}
		l := int(content[i])
		i++
		if l == 0x80 || l == 0xff {
			return 0 // indefinite or invalid
		}
		if l > 0x80 {
			k := l & 0x7f
			if k > 4 || i+k > len(content) {
				return 0
			}
			l = 0
			for _, b := range content[i : i+k] {
				l = l<<8 | int(b)
			}
			i += k
		}
		i += l
		n++
	}
	if i != len(content) {
		return 0
	}
	return n
}
