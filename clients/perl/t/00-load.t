use v5.36;
use Test::More;
use JSON ();
no warnings "once";

use_ok('OpenSim::Dispatcher');
use_ok('OpenSim::Dispatcher::Endpoint');
use_ok('OpenSim::Dispatcher::Error');
use_ok('OpenSim::Dispatcher::Messages');
use_ok('OpenSim::Dispatcher::Objects');

my @messages = @OpenSim::Dispatcher::Messages::MESSAGES;
my @rc = grep { $_->[2] eq 'RemoteControl' } @messages;
is(scalar @rc, 38, 'the 35 RemoteControl requests of remote-control.md section 1 + TouchObjectRequest + ImportOar/ExportOar');
is(scalar(grep { $_->[2] eq 'Dispatcher' } @messages), 8, 'the 8 Dispatcher requests');
is(scalar(grep { $_->[2] eq 'Scripting' } @messages), 9, 'the 9 Scripting requests');
is_deeply([ map { $_->[1] =~ s/^Extensions\.Messages\.//r } grep { $_->[2] eq 'Extensions' } @messages ],
    [qw(InstallExtensionRequest ListExtensionsRequest GetExtensionStatusRequest StartExtensionRequest
        StopExtensionRequest RemoveExtensionRequest UpdateExtensionRequest GetExtensionLogRequest)],
    'the 8 Extensions requests of extensions.md section 3');
ok((grep { $_ eq 'Extensions' } @OpenSim::Dispatcher::DEFAULT_DOMAINS), 'Extensions in the default DomainList');
for my $entry (@messages) {
    ok(OpenSim::Dispatcher->can($entry->[0]), "method $entry->[0]");
    my $class = $entry->[1] =~ s/^\w+\.Messages\.//r =~ s/Request$//r;
    is($entry->[0], lc($class =~ s/(?<!^)([A-Z])/_$1/gr), "$entry->[0] is named after $entry->[1]");
}

# Requests: $type first, coerced values, envelope added; nothing sent for unset options.
my ($request, $domain) = OpenSim::Dispatcher::_build(
    [ grep { $_->[0] eq 'create_object' } @messages ]->[0], 'ABC', position => ['1', 2, 3.5]);
is($domain, 'RemoteControl', 'domain');
is_deeply($request, { '$type' => 'RemoteControl.Messages.CreateObjectRequest', AssetID => 'abc',
    Position => [1, 2, 3.5] }, 'only given members are sent');
my $json = JSON->new->canonical->encode($request);
like($json, qr/^\{"\$type":/, '$type is the first member');
like($json, qr/"Position":\[1,2,3.5\]/, 'vector components are numbers');
eval { OpenSim::Dispatcher::_build([ grep { $_->[0] eq 'get_object_data' } @messages ]->[0]) };
like($@, qr/get_object_data needs 1 argument/, 'missing required argument croaks');
eval { OpenSim::Dispatcher::_build([ grep { $_->[0] eq 'find_objects' } @messages ]->[0], bogus => 1) };
like($@, qr/unknown argument\(s\) bogus/, 'unknown named argument croaks');

# Extensions: the component travels as base64 text (JSON); unset options are not sent.
my %entry = map { $_->[0] => $_ } @messages;
($request, $domain) = OpenSim::Dispatcher::_build($entry{install_extension}, "\0asm",
    scope => 'Harbor Island', grants => ['storage'], start => 0);
is($domain, 'Extensions', 'install_extension is in the Extensions domain');
is_deeply($request, { '$type' => 'Extensions.Messages.InstallExtensionRequest', Component => 'AGFzbQ==',
    Scope => 'Harbor Island', Grants => ['storage'], Start => JSON::false }, 'install_extension members');
($request) = OpenSim::Dispatcher::_build($entry{update_extension}, 'ABC-1', "\xff", config => 'c');
is_deeply($request, { '$type' => 'Extensions.Messages.UpdateExtensionRequest', ExtensionID => 'abc-1',
    Component => '/w==', Config => 'c' }, 'update_extension members');
($request) = OpenSim::Dispatcher::_build($entry{get_extension_log}, 'E', since => '7');
is_deeply($request, { '$type' => 'Extensions.Messages.GetExtensionLogRequest', ExtensionID => 'e', Since => 7 },
    'get_extension_log members');

# The generic call: any <Domain>.Messages.* type, members as given, envelope refused.
($request, $domain) = OpenSim::Dispatcher::_build_generic('Notes.Messages.AddNoteRequest',
    { Text => 'hi', Blob => OpenSim::Dispatcher::binary("\x01"), Nested => [{ Data => OpenSim::Dispatcher::binary('a') }] });
is($domain, 'Notes', 'generic call: the domain is the type\'s first part');
is_deeply($request, { '$type' => 'Notes.Messages.AddNoteRequest', Text => 'hi', Blob => 'AQ==',
    Nested => [{ Data => 'YQ==' }] }, 'generic call: members, binary as base64');
(undef, $domain) = OpenSim::Dispatcher::_build_generic('Chaos.Messages.EchoRequest', {}, domain => 'Named');
is($domain, 'Named', 'generic call: domain override');
for my $bad ('', 'Notes', 'Notes.Messages.', '.Messages.X', 'A.B.Messages.X', 'No tes.Messages.X', 'Notes.Replies.X') {
    eval { OpenSim::Dispatcher::_build_generic($bad, {}) };
    like($@, qr/must be <Domain>\.Messages\.<Name>/, "generic call refuses type '$bad'");
}
for my $member ('$type', '_Capability', '_scene', '_DOMAIN', '_AsyncRequest') {
    eval { OpenSim::Dispatcher::_build_generic('Notes.Messages.AddNoteRequest', { $member => 'x' }) };
    like($@, qr/part of the envelope/, "generic call refuses envelope member $member");
}
eval { OpenSim::Dispatcher::_build_generic('Notes.Messages.AddNoteRequest', ['x']) };
like($@, qr/members must be a hash reference/, 'generic call refuses members that are not a hash');

my $err = OpenSim::Dispatcher::Error->from_reply(
    { '$type' => 'ResponseBase', _Success => 0, _Message => 'Unauthorized invocation; no such capability' }, 'X');
is($err->kind, 'unauthorized', 'error kind');
is($err->message, 'Unauthorized invocation; no such capability', 'error message');
is("$err", 'X failed: Unauthorized invocation; no such capability', 'error text');

my $touch = OpenSim::Dispatcher::Endpoint::parse_callback(
    '{"$type":"RemoteControl.Messages.TouchCallback","ObjectID":"c0ffee00-1111-4a2b-8c3d-0123456789ab"}');
is($touch->{kind}, 'touch', 'touch callback parsed');
is(OpenSim::Dispatcher::Endpoint::parse_callback('garbage'), undef, 'garbage ignored');

like(OpenSim::Dispatcher::Objects::new_uuid(), qr/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'uuid v4');

done_testing;
