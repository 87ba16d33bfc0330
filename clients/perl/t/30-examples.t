# Run every tutorial example (docs/clients.md) against a real host. Examples
# that use RemoteControl or Extensions messages skip ONLY while the host's
# InfoResponse.MessageList lacks those message types; greet.pl also needs the
# built tutorial extension (guest-examples/out/ext-tutorial.wasm), which the
# test installs first.
use v5.36;
use lib 't/lib';
use Test::More;
use Cwd qw(abs_path);
use File::Basename qw(dirname);

use TestHost;

my $RC = 'RemoteControl.Messages.';
my %needs = (
    'connect.pl'        => [],
    'create_objects.pl' => [ map { "$RC$_" } qw(AddAssetRequest CreateObjectRequest FindObjectsRequest) ],
    'move_objects.pl'   => [ map { "$RC$_" } qw(AddAssetRequest CreateObjectRequest SetObjectPositionRequest
                                                GetObjectPositionRequest BulkDynamicsRequest) ],
    'touches.pl'        => [ map { "$RC$_" } qw(AddAssetRequest CreateObjectRequest RegisterTouchCallbackRequest
                                                UnregisterTouchCallbackRequest TouchObjectRequest) ],
    'greet.pl'          => [ 'Extensions.Messages.InstallExtensionRequest' ],
);
my %expect = (
    'connect.pl'        => [ 'regions: Harbor Island', 'connected to Harbor Island' ],
    'create_objects.pl' => [ 'created ', 'the region has 5 tutorial boxes' ],
    'move_objects.pl'   => [ 'moved to 110 100 30', 'last frame at 109 112 25' ],
    'touches.pl'        => [ 'touched ' ],
    'greet.pl'          => [ 'Hello, Ada! (greeting number 1 in Harbor Island)' ],
);
my $tutorial = abs_path(dirname(__FILE__) . '/../../..') . '/guest-examples/out/ext-tutorial.wasm';
# What docs/extensions.md does before greet.pl: install the Greeter.
my %setup = (
    'greet.pl' => sub ($host) {
        my $bytes = do { open my $fh, '<:raw', $tutorial or die "$tutorial: $!"; local $/; <$fh> };
        my $client = $host->connect;
        $client->install_extension($bytes, scope => $TestHost::REGION, grants => ['storage']);
        $client->close;
    },
);

my @files = sort map { s{.*/}{}r } glob 'examples/*.pl';
is_deeply(\@files, [ sort keys %needs ], 'every example is covered');

my $lib = abs_path('lib');
for my $name (sort keys %needs) {
    subtest $name => sub {
        my $host = TestHost->start;    # a fresh region per example, so counts are exact
        my @missing = $host->missing_messages(@{ $needs{$name} });
        plan skip_all => "host does not offer @missing yet (not in InfoResponse.MessageList)" if @missing;
        plan skip_all => 'guest-examples/out/ext-tutorial.wasm not built (run guest-examples/build.sh)'
            if $setup{$name} && !-f $tutorial;
        $setup{$name}->($host) if $setup{$name};
        local %ENV = (%ENV, $host->env);
        my $out = `$^X -I$lib examples/$name 2>&1`;
        is($?, 0, "$name exits 0") or diag $out;
        like($out, qr/\Q$_\E/, "prints '$_'") for @{ $expect{$name} };
        $host->stop;
    };
}

done_testing;
