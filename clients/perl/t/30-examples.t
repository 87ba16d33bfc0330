# Run every tutorial example (docs/clients.md) against a real host. Examples
# that use RemoteControl messages skip ONLY while the host's
# InfoResponse.MessageList lacks those message types.
use v5.36;
use lib 't/lib';
use Test::More;
use Cwd qw(abs_path);

use TestHost;

my $RC = 'RemoteControl.Messages.';
my %needs = (
    'connect.pl'        => [],
    'create_objects.pl' => [ map { "$RC$_" } qw(AddAssetRequest CreateObjectRequest FindObjectsRequest) ],
    'move_objects.pl'   => [ map { "$RC$_" } qw(AddAssetRequest CreateObjectRequest SetObjectPositionRequest
                                                GetObjectPositionRequest BulkDynamicsRequest) ],
    'touches.pl'        => [ map { "$RC$_" } qw(AddAssetRequest CreateObjectRequest RegisterTouchCallbackRequest
                                                UnregisterTouchCallbackRequest TouchObjectRequest) ],
);
my %expect = (
    'connect.pl'        => [ 'regions: Harbor Island', 'connected to Harbor Island' ],
    'create_objects.pl' => [ 'created ', 'the region has 5 tutorial boxes' ],
    'move_objects.pl'   => [ 'moved to 110 100 30', 'last frame at 109 112 25' ],
    'touches.pl'        => [ 'touched ' ],
);

my @files = sort map { s{.*/}{}r } glob 'examples/*.pl';
is_deeply(\@files, [ sort keys %needs ], 'every example is covered');

my $lib = abs_path('lib');
for my $name (sort keys %needs) {
    subtest $name => sub {
        my $host = TestHost->start;    # a fresh region per example, so counts are exact
        my @missing = $host->missing_messages(@{ $needs{$name} });
        plan skip_all => "host does not offer @missing yet (not in InfoResponse.MessageList)" if @missing;
        local %ENV = (%ENV, $host->env);
        my $out = `$^X -I$lib examples/$name 2>&1`;
        is($?, 0, "$name exits 0") or diag $out;
        like($out, qr/\Q$_\E/, "prints '$_'") for @{ $expect{$name} };
        $host->stop;
    };
}

done_testing;
