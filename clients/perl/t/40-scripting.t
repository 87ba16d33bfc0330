# Scripting messages against a real host (scripting.md section 3). Skips ONLY
# while the host's InfoResponse.MessageList lacks the message types; a working
# upload also needs guest-examples/out/touch-lift.wasm (guest-examples/build.sh)
# or $DISPATCHER_TEST_COMPONENT.
use v5.36;
use lib 't/lib';
use Test::More;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use Time::HiRes qw(sleep time);

use TestHost;
use OpenSim::Dispatcher::Objects qw(box_asset);

my $host = TestHost->start;
my @needed = ((map { "Scripting.Messages.$_" } qw(UploadScriptRequest ListScriptsRequest GetScriptStatusRequest
    GetScriptLogRequest StopScriptRequest StartScriptRequest ResetScriptRequest RemoveScriptRequest)),
    'RemoteControl.Messages.AddAssetRequest', 'RemoteControl.Messages.CreateObjectRequest');
my @missing = $host->missing_messages(@needed);
plan skip_all => "host does not offer @missing yet (not in InfoResponse.MessageList)" if @missing;

my $client = $host->connect;
my $box = box_asset(name => 'perl scripted');
$client->add_asset($box);
my $object_id = $client->create_object($box->{AssetID})->{ObjectID};

my $err = eval { $client->upload_script($object_id, 'junk', "\0asm\x01\0\0\0"); 1 } ? undef : $@;
ok($err && $err->message, 'bytes that are not a component are refused');
is_deeply($client->list_scripts(object_id => $object_id)->{Scripts}, [], 'nothing stored');

my $component = $ENV{DISPATCHER_TEST_COMPONENT}
    // abs_path(dirname(__FILE__) . '/../../..') . '/guest-examples/out/touch-lift.wasm';
SKIP: {
    skip 'guest-examples/out/touch-lift.wasm not built (run guest-examples/build.sh)', 5 unless -f $component;
    my $bytes = do { open my $fh, '<:raw', $component or die $!; local $/; <$fh> };
    my $up = $client->upload_script($object_id, 'touch-lift', $bytes, grants => ['objects:read', 'objects:write']);
    is(length $up->{Hash}, 64, 'sha-256 hash');
    my $script = $up->{ScriptID};
    my ($deadline, @lines) = (time + 10);
    while (!@lines && time < $deadline) {
        @lines = map { $_->{Text} } @{ $client->get_script_log($script)->{Lines} // [] };
        sleep 0.1;
    }
    ok((grep { /touch-lift ready/ } @lines), 'log line from on-start');
    ok($client->stop_script($script) && $client->start_script($script) && $client->reset_script($script),
        'stop, start, reset');
    ok($client->get_script_status($script), 'status');
    ok($client->remove_script($script), 'removed');
}

$client->close;
$host->stop;
done_testing;
