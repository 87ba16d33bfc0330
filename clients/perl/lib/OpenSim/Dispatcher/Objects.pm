package OpenSim::Dispatcher::Objects;

use v5.36;

use Exporter 'import';
use MIME::Base64 qw(encode_base64);

our $VERSION = '0.1.0';
our @EXPORT_OK = qw(box_asset box_object_xml new_uuid);

use constant OBJECT_CONTENT_TYPE => 'application/vnd.ll.primitive';

sub new_uuid () {
    my @b = map { int rand 256 } 1 .. 16;
    $b[6] = ($b[6] & 0x0f) | 0x40;    # version 4
    $b[8] = ($b[8] & 0x3f) | 0x80;    # RFC 4122 variant
    return sprintf '%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x', @b;
}

sub _xml_escape ($text) {
    $text =~ s/&/&amp;/g;
    $text =~ s/</&lt;/g;
    $text =~ s/>/&gt;/g;
    return $text;
}

sub _vector ($tag, @values) {
    my @axes = qw(X Y Z W);
    return "<$tag>" . join('', map { "<$axes[$_]>" . (0 + $values[$_]) . "</$axes[$_]>" } 0 .. $#values) . "</$tag>";
}

sub _part ($name, $link_num, $offset, $scale) {
    # ProfileCurve 1 (square) + PathCurve 16 (straight): a box; PCode 9: a prim.
    return '<SceneObjectPart>'
        . '<UUID><UUID>' . new_uuid() . '</UUID></UUID>'
        . '<Name>' . _xml_escape($name) . '</Name>'
        . "<LinkNum>$link_num</LinkNum>"
        . _vector('OffsetPosition', @$offset)
        . _vector('RotationOffset', 0, 0, 0, 1)
        . _vector('Scale', @$scale)
        . '<Shape><PCode>9</PCode><ProfileCurve>1</ProfileCurve><PathCurve>16</PathCurve></Shape>'
        . '</SceneObjectPart>';
}

# Object XML for a box; children => [ [name, [x, y, z]], ... ] adds linked boxes.
sub box_object_xml (%args) {
    my $name     = $args{name}  // 'Box';
    my $scale    = $args{scale} // [0.5, 0.5, 0.5];
    my @children = @{ $args{children} // [] };
    my $link = 2;
    my $others = join '', map { '<Part>' . _part($_->[0], $link++, $_->[1], $scale) . '</Part>' } @children;
    return '<SceneObjectGroup><RootPart>' . _part($name, @children ? 1 : 0, [0, 0, 0], $scale)
        . "</RootPart><OtherParts>$others</OtherParts></SceneObjectGroup>";
}

# An AssetData record for add_asset.
sub box_asset (%args) {
    my $name = $args{name} // 'Box';
    # One trailing NUL, as OpenSim writes object assets.
    my $xml = box_object_xml(%args) . "\0";
    utf8::encode($xml);
    return {
        AssetID         => $args{asset_id} // new_uuid(),
        SerializedAsset => encode_base64($xml, ''),
        Name            => $name,
        Description     => "$name (generated box)",
        ContentType     => OBJECT_CONTENT_TYPE,
        CreatorID       => '',
    };
}

1;

__END__

=head1 NAME

OpenSim::Dispatcher::Objects - make object assets to rez objects from

=head1 SYNOPSIS

    use OpenSim::Dispatcher::Objects qw(box_asset);
    my $asset = box_asset(name => 'Crate', children => [ [ 'Lid', [0, 0, 0.5] ] ]);
    $client->add_asset($asset);
    my $id = $client->create_object($asset->{AssetID}, position => [128, 128, 25])->{ObjectID};

=head1 FUNCTIONS

=over

=item box_asset(name => N, scale => [x, y, z], children => [[name, offset], ...], asset_id => UUID)

An asset record (for C<add_asset>) holding a box prim in OpenSim's object XML.

=item box_object_xml(%same_arguments)

Just the XML text.

=item new_uuid

A random version-4 UUID.

=back

=cut
