package ber

import (
	"bytes"
	"math"
	"os"
	"reflect"
	"testing"
)

// The patched readPacket must decode exactly what upstream v1.5.8 decodes,
// and fail exactly where it fails (the message may differ).

func sameTree(t *testing.T, path string, got, want *Packet) {
	t.Helper()
	if got.Identifier != want.Identifier {
		t.Fatalf("%s: identifier %+v, want %+v", path, got.Identifier, want.Identifier)
	}
	if !reflect.DeepEqual(got.Value, want.Value) && !bothNaN(got.Value, want.Value) {
		t.Fatalf("%s: value %#v, want %#v", path, got.Value, want.Value)
	}
	if !bytes.Equal(got.ByteValue, want.ByteValue) {
		t.Fatalf("%s: byte value %x, want %x", path, got.ByteValue, want.ByteValue)
	}
	if (got.Children == nil) != (want.Children == nil) || (got.Data == nil) != (want.Data == nil) {
		t.Fatalf("%s: children or data nil where upstream's are not (or the reverse)", path)
	}
	if len(got.Children) != len(want.Children) {
		t.Fatalf("%s: %d children, want %d", path, len(got.Children), len(want.Children))
	}
	if len(want.Children) == 0 && !bytes.Equal(got.Data.Bytes(), want.Data.Bytes()) {
		t.Fatalf("%s: data %x, want %x", path, got.Data.Bytes(), want.Data.Bytes())
	}
	for i := range want.Children {
		sameTree(t, path+"/"+string(rune('0'+i%10)), got.Children[i], want.Children[i])
	}
}

func bothNaN(a, b interface{}) bool {
	x, ok1 := a.(float64)
	y, ok2 := b.(float64)
	return ok1 && ok2 && math.IsNaN(x) && math.IsNaN(y)
}

func checkSame(t *testing.T, data []byte) {
	want, wantN, wantErr := readPacketV158(bytes.NewReader(data), 0)
	got, gotN, gotErr := readPacket(bytes.NewReader(data), 0)
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("error %v, upstream %v", gotErr, wantErr)
	}
	if wantErr != nil {
		return
	}
	if gotN != wantN {
		t.Fatalf("read %d bytes, upstream %d", gotN, wantN)
	}
	sameTree(t, "", got, want)
	// What the packet encodes to decodes to the same tree again.
	again, err := DecodePacketErr(got.Bytes())
	if err != nil {
		t.Fatalf("re-decoding: %v", err)
	}
	sameTree(t, "again", again, want)
}

// ldapEntry is a SearchResultEntry with long-form lengths, as Active
// Directory writes them (84 xx xx xx xx).
var ldapEntry = []byte{
	0x30, 0x84, 0x00, 0x00, 0x00, 0x2b, 0x02, 0x01, 0x05,
	0x64, 0x84, 0x00, 0x00, 0x00, 0x22,
	0x04, 0x07, 'c', 'n', '=', 'a', ',', 'd', 'c',
	0x30, 0x84, 0x00, 0x00, 0x00, 0x13,
	0x30, 0x84, 0x00, 0x00, 0x00, 0x0d,
	0x04, 0x04, 'm', 'a', 'i', 'l',
	0x31, 0x05, 0x04, 0x03, 'a', '@', 'b',
}

func seeds(f *testing.F) {
	for _, tc := range testCases {
		data, err := os.ReadFile(tc.File)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add(ldapEntry)
	f.Add(ldapEntry[:20])
	f.Add([]byte{0x30, 0x80, 0x04, 0x01, 'x', 0x00, 0x00})
	f.Add([]byte{0x30, 0x03, 0x04, 0x05, 'x'})
}

func FuzzPatchedDecoderMatchesUpstream(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, data []byte) { checkSame(t, data) })
}

func TestPatchedDecoderOnAnADEntry(t *testing.T) {
	checkSame(t, ldapEntry)
	p, err := DecodePacketErr(ldapEntry)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Children[1].Children[1].Children[0].Children[1].Children[0].Value; got != "a@b" {
		t.Fatalf("mail = %v", got)
	}
	// A truncated entry is an error, not a shorter packet.
	for n := 1; n < len(ldapEntry); n++ {
		if _, err := DecodePacketErr(ldapEntry[:n]); err == nil {
			t.Fatalf("%d of %d bytes decoded without an error", n, len(ldapEntry))
		}
	}
}

func BenchmarkReadLDAPEntry(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ReadPacket(bytes.NewReader(ldapEntry)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadLDAPEntryUpstream(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := readPacketV158(bytes.NewReader(ldapEntry), 0); err != nil {
			b.Fatal(err)
		}
	}
}
