# Extensions messages and the generic call against a real host (extensions.md
# section 3). The generic call is checked on a built-in type at once; the
# Extensions part skips ONLY while the host's InfoResponse.MessageList lacks the
# Extensions messages, and needs guest-examples/out/ext-tutorial.wasm
# (guest-examples/build.sh).
use v5.36;
use lib 't/lib';
use Test::More;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use Time::HiRes qw(sleep time);

use TestHost;

my $GREET = 'Greeter.Messages.GreetRequest';
# The god installs for a region they hold no estate role in: as a grid manager.
my $host = TestHost->start(ini => "[Dispatcher]\nGrantGridManagersAccess = true\nGridManagerAccessLevel = 200\n");
my $client = $host->connect(domains => [@OpenSim::Dispatcher::DEFAULT_DOMAINS, 'Greeter']);

# The generic call answers like the typed method.
my $sun = $client->get_sun_parameters;
my $reply = $client->call('RemoteControl.Messages.GetSunParametersRequest');
is($reply->{_Success}, 1, 'generic call: success');
is($reply->{DayLength}, $sun->{DayLength}, 'generic call: same members as the typed method');
my $err = eval { $client->call('Nowhere.Messages.AnythingRequest', { X => 1 }); 1 } ? undef : $@;
is($err && $err->kind, 'unknown-type', 'generic call: an unknown type dies with its kind');

my @needed = map { "Extensions.Messages.$_" } qw(InstallExtensionRequest ListExtensionsRequest
    GetExtensionStatusRequest StartExtensionRequest StopExtensionRequest RemoveExtensionRequest
    UpdateExtensionRequest GetExtensionLogRequest);
my @missing = $host->missing_messages(@needed);
my $component = abs_path(dirname(__FILE__) . '/../../..') . '/guest-examples/out/ext-tutorial.wasm';
SKIP: {
    skip "host does not offer @missing yet (not in InfoResponse.MessageList)", 14 if @missing;
    skip 'guest-examples/out/ext-tutorial.wasm not built (run guest-examples/build.sh)', 14 unless -f $component;
    my $bytes = do { open my $fh, '<:raw', $component or die $!; local $/; <$fh> };

    # A god installs for the whole host (empty scope).
    my $god = OpenSim::Dispatcher->connect(url => $host->url, user => 'Grace God', password => $TestHost::PASSWORD,
        scene => $TestHost::REGION, domains => [@OpenSim::Dispatcher::DEFAULT_DOMAINS, 'Greeter']);
    my $installed = $god->install_extension($bytes, scope => '', grants => ['storage'], config => 'from perl');
    my $id = $installed->{ExtensionID};
    is($installed->{Domain}, 'Greeter', 'installed: domain');
    is($installed->{State}, 'running', 'installed: running');

    my $first = $client->call($GREET, { Name => 'Perl' });
    is($first->{Greeting}, 'Hello, Perl!', 'the owner calls the god\'s extension');
    is($first->{Count}, 1, 'first greeting in the region');
    is($client->call($GREET, {})->{Greeting}, 'Hello, Ada!', 'no Name: the caller\'s first name');
    $err = eval { $client->call($GREET, { Name => 'x' x 65 }); 1 } ? undef : $@;
    like($err && $err->message, qr/longer than 64/, 'the extension\'s err text is the failure message');

    my $status = $god->get_extension_status($id);
    my $record = $status->{Status} // $status;
    ok($record->{RequestsHandled} >= 2, 'status counts requests');
    ok((grep { $_->{ExtensionID} eq $id } @{ $god->list_extensions->{Extensions} // [] }), 'listed');
    my ($deadline, @lines) = (time + 10);
    while (!(grep { /Greeter ready/ } @lines) && time < $deadline) {
        @lines = map { $_->{Text} } @{ $god->get_extension_log($id)->{Lines} // [] };
        sleep 0.1;
    }
    ok((grep { /Greeter ready \(config: "from perl"\)/ } @lines), 'log line from on-start');

    ok($god->stop_extension($id), 'stopped');
    ok(!eval { $client->call($GREET, { Name => 'stopped' }); 1 }, 'a stopped extension does not answer');
    ok($god->start_extension($id), 'started');
    is($god->update_extension($id, $bytes)->{Domain}, 'Greeter', 'updated');
    is($client->call($GREET, { Name => 'kept' })->{Count}, 3, 'storage kept across stop, start and update');
    $god->remove_extension($id);
    $god->close;
}

$client->close;
$host->stop;
done_testing;
