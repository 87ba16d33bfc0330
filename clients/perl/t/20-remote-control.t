# RemoteControl messages against a real host (remote-control.md section 4).
# Each subtest skips ONLY while the host's InfoResponse.MessageList lacks the
# message types it uses, so it starts running once the handlers land.
use v5.36;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use MIME::Base64 qw(decode_base64);

use TestHost;
use OpenSim::Dispatcher;
use OpenSim::Dispatcher::Endpoint;
use OpenSim::Dispatcher::Objects qw(box_asset new_uuid);

my $host   = TestHost->start;
my $client = $host->connect;
my $RC     = 'RemoteControl.Messages.';

sub error_of ($code) { eval { $code->(); 1 } ? undef : $@ }

sub needs (@names) {
    my @missing = $host->missing_messages(map { "$RC$_" } @names);
    return 1 unless @missing;
    plan skip_all => "host does not offer @missing yet (not in InfoResponse.MessageList)";
    return 0;
}

sub near ($got, $want, $tol = 1e-3) {
    return 0 unless ref $got eq 'ARRAY' && @$got == @$want;
    for my $i (0 .. $#$want) { return 0 if abs($got->[$i] - $want->[$i]) > $tol }
    return 1;
}

sub make_object ($name, %opts) {
    my $asset = box_asset(name => $name, children => delete $opts{children});
    $client->add_asset($asset);
    return $client->create_object($asset->{AssetID}, name => $name, %opts)->{ObjectID};
}

subtest 'assets' => sub {
    needs(qw(AddAssetRequest TestAssetRequest GetAssetRequest));
    my $id = new_uuid();
    my $asset = { AssetID => $id, SerializedAsset => 'SGVsbG8sIHdvcmxkIQA=', Name => 'greeting',
        Description => 'a notecard', ContentType => 'application/vnd.ll.notecard', CreatorID => '' };
    is($client->add_asset($asset)->{AssetID}, $id, 'stored under its id');
    ok($client->test_asset($id)->{Exists}, 'exists');
    ok(!$client->test_asset(new_uuid())->{Exists}, 'unknown does not exist');
    is(decode_base64($client->get_asset($id)->{Asset}{SerializedAsset}), "Hello, world!\0", 'bytes round trip');
    is(error_of(sub { $client->get_asset(new_uuid()) })->message, 'no such asset', 'unknown asset');
};

subtest 'create, read, move, rotate, delete' => sub {
    needs(qw(AddAssetRequest CreateObjectRequest GetObjectDataRequest GetObjectPartsRequest FindObjectsRequest
             GetObjectPositionRequest SetObjectPositionRequest GetObjectRotationRequest SetObjectRotationRequest
             DeleteObjectRequest GetObjectInventoryRequest));
    my $name = 'Perl Tile ' . substr(new_uuid(), 0, 8);
    my $id = make_object($name, position => [50, 60, 22], children => [ [ 'Leg', [0, 0, -0.5] ] ]);
    my $data = $client->get_object_data($id);
    is($data->{Name}, $name, 'name');
    ok(near($data->{Position}, [50, 60, 22]), 'position');
    is_deeply([ map { $_->{LinkNum} } @{ $client->get_object_parts($id)->{Parts} } ], [1, 2], 'two parts');
    is_deeply($client->get_object_inventory($id)->{Inventory}, [], 'empty inventory');
    ok((grep { $_ eq $id } @{ $client->find_objects(pattern => $name)->{Objects} }), 'found');
    ok(near($client->set_object_position($id, [100, 90.5, 30])->{Position}, [100, 90.5, 30]), 'moved');
    ok(near($client->get_object_position($id)->{Position}, [100, 90.5, 30]), 'read back');
    my $rot = [0, 0, 0.7071068, 0.7071068];
    ok(near($client->set_object_rotation($id, $rot)->{Rotation}, $rot, 1e-6), 'rotated');
    ok(near($client->get_object_rotation($id)->{Rotation}, $rot, 1e-6), 'rotation read back');
    $client->delete_object($id);
    is(error_of(sub { $client->get_object_data($id) })->message, 'no such object', 'deleted');
};

subtest 'queued and UDP moves' => sub {
    needs(qw(AddAssetRequest CreateObjectRequest SetObjectPositionRequest GetObjectPositionRequest));
    my $id = make_object('perl async mover');
    is($client->queued('set_object_position', $id, [10, 10, 30])->{_Success}, 2, 'queued');
    $client->packet('set_object_position', $id, [20, 20, 30]);
    my $deadline = time + 5;
    sleep 0.05 while !near($client->get_object_position($id)->{Position}, [20, 20, 30]) && time < $deadline;
    ok(near($client->get_object_position($id)->{Position}, [20, 20, 30]), 'UDP move applied');
};

subtest 'bulk messages' => sub {
    needs(qw(AddAssetRequest CreateObjectRequest BulkDynamicsRequest CreateBulkObjectsRequest
             DeleteBulkObjectsRequest GetObjectDataRequest));
    my $a = make_object('perl bulk a', position => [30, 30, 25]);
    $client->bulk_dynamics([ { ObjectID => $a, Position => [31, 30, 25] } ]);
    ok(near($client->get_object_data($a)->{Position}, [31, 30, 25]), 'bulk dynamics applied');
    my $asset = box_asset(name => 'perl car');
    $client->add_asset($asset);
    my ($ok, $missing) = (new_uuid(), new_uuid());
    my $reply = $client->create_bulk_objects([
        { AssetID => $asset->{AssetID}, Name => 'car-1', ObjectData => { ObjectID => $ok, Position => [10, 10, 22] } },
        { AssetID => '00000000-0000-0000-0000-000000000000', ObjectData => { ObjectID => $missing } },
    ]);
    is($reply->{_Message}, "missing asset for object $missing; ", 'warning');
    my $gone = new_uuid();
    is($client->delete_bulk_objects([$ok, $gone])->{_Message}, "no such object $gone; ", 'delete warning');
};

subtest 'parts, asset from object, dependents' => sub {
    needs(qw(AddAssetRequest CreateObjectRequest SetPartPositionRequest SetPartRotationRequest SetPartScaleRequest
             SetPartColorRequest GetObjectPartsRequest GetAssetFromObjectRequest GetDependentAssetsRequest));
    my $id = make_object('perl linked', children => [ [ 'child', [0, 1, 0] ] ]);
    $client->set_part_position($id, 2, [0, 0, 1.5]);
    $client->set_part_rotation($id, 2, [0, 0.3826834, 0, 0.9238795]);
    $client->set_part_scale($id, 0, [2, 2, 0.1]);
    $client->set_part_color($id, 0, [1, 0.5, 0], 1);
    ok(near($client->get_object_parts($id)->{Parts}[1]{OffsetPosition}, [0, 0, 1.5]), 'child offset');
    is(error_of(sub { $client->set_part_scale($id, 3, [1, 1, 1]) })->message, 'no such part', 'no such part');
    my $asset = $client->get_asset_from_object($id)->{Asset};
    is($asset->{ContentType}, 'application/vnd.ll.primitive', 'object asset');
    ok((grep { $_ eq $asset->{AssetID} } @{ $client->get_dependent_assets($asset->{AssetID})->{DependentAssets} }),
        'dependents include the asset');
};

subtest 'chat, sun, terrain, appearance, message' => sub {
    needs(qw(ChatRequest GetSunParametersRequest SetSunParametersRequest GetTerrainHeightRequest
             SetTerrainHeightRequest GetAvatarAppearanceRequest SetAvatarAppearanceRequest MessageObjectRequest
             AddAssetRequest CreateObjectRequest));
    is($client->chat('Hello from Perl', position => [128, 128, 30], channel => 0)->{_Success}, 1, 'chat');
    my $sun = $client->set_sun_parameters(12, day_length => 2);
    ok(abs($sun->{CurrentTime} - 12) < 0.05, 'sun time set');
    ok(abs($client->set_terrain_height(128, 64, 23.5)->{Height} - 23.5) < 0.01, 'terrain set');
    ok(abs($client->get_terrain_height(128, 64)->{Height} - 23.5) < 0.01, 'terrain read');
    my $appearance = $client->get_avatar_appearance->{SerializedAppearance};
    ok(JSON->new->decode($appearance)->{wearables}, 'appearance document');
    ok($client->set_avatar_appearance($appearance), 'appearance set');
    ok($client->message_object(make_object('perl scripted'), 'start'), 'message object');
};

subtest 'touch and update callbacks' => sub {
    needs(qw(AddAssetRequest CreateObjectRequest RegisterTouchCallbackRequest UnregisterTouchCallbackRequest
             RegisterUpdatedCallbackRequest UnregisterUpdatedCallbackRequest TouchObjectRequest
             SetObjectPositionRequest));
    my $id = make_object('perl touch me');
    my (@touches, @updates);
    my $listener = OpenSim::Dispatcher::Endpoint->new(client => $client,
        on_touch => sub ($e) { push @touches, $e }, on_update => sub ($e) { push @updates, $e });
    my $touch_req  = $listener->watch_touches($id);
    my $update_req = $listener->watch_updates($id);
    $client->touch_object($id);
    my $event = $listener->poll(5);
    is($event->{kind}, 'touch', 'touch arrived');
    is($event->{RequestID}, $touch_req, 'request id');
    $client->set_object_position($id, [70, 71, 30]);
    $event = $listener->poll(5);
    is($event->{kind}, 'update', 'update arrived');
    ok(near($event->{Position}, [70, 71, 30]), 'new position');
    is(scalar @touches, 1, 'touch handler');
    is(scalar @updates, 1, 'update handler');
    $listener->close;
};

$client->close;
$host->stop;
done_testing;
