package OpenSim::Dispatcher::Messages;

# The message table: one entry per request type of the Dispatcher,
# RemoteControl, Scripting and Extensions domains. OpenSim::Dispatcher turns each entry
# into a method; nothing else in the distribution knows message layouts.
#
# Entry: [ method, type name, domain, [ required fields ], [ optional fields ], pre-auth ]
# Field: "perl_name:WireName:kind" where kind says how to coerce the value:
#   uuid  - text (lower-cased)
#   vec   - array of numbers
#   num   - number
#   int   - integer
#   str   - string
#   bool  - JSON boolean
#   uuids - array of uuid
#   strs  - array of strings
#   bytes - binary (base64 text in JSON)
#   raw   - sent as given (nested records)

use v5.36;

our $VERSION = '0.1.0';

my $D  = 'Dispatcher';
my $RC = 'RemoteControl';
my $SC = 'Scripting';
my $EX = 'Extensions';

our @MESSAGES = (
    # Dispatcher domain (dispatcher-core.md section 6)
    ['info',                 'Dispatcher.Messages.InfoRequest',              $D, [], [], 1],
    ['message_format',       'Dispatcher.Messages.MessageFormatRequest',     $D, ['message_name:MessageName:str'], [], 1],
    ['create_capability',    'Dispatcher.Messages.CreateCapabilityRequest',  $D, ['hashed_passwd:HashedPasswd:str'],
        ['first_name:FirstName:str', 'last_name:LastName:str', 'email_address:EmailAddress:str',
         'user_id:UserID:uuid', 'life_span:LifeSpan:int', 'domain_list:DomainList:strs'], 1],
    ['renew_capability',     'Dispatcher.Messages.RenewCapabilityRequest',   $D, [], ['life_span:LifeSpan:int']],
    ['destroy_capability',   'Dispatcher.Messages.DestroyCapabilityRequest', $D, [], []],
    ['create_end_point',     'Dispatcher.Messages.CreateEndPointRequest',    $D,
        ['callback_host:CallbackHost:str', 'callback_port:CallbackPort:int'], ['life_span:LifeSpan:int']],
    ['renew_end_point',      'Dispatcher.Messages.RenewEndPointRequest',     $D, ['end_point_id:EndPointID:uuid'],
        ['life_span:LifeSpan:int']],
    ['close_end_point',      'Dispatcher.Messages.CloseEndPointRequest',     $D, ['end_point_id:EndPointID:uuid'], []],

    # RemoteControl domain (remote-control.md section 4)
    ['find_objects',         'RemoteControl.Messages.FindObjectsRequest',        $RC, [],
        ['pattern:Pattern:str', 'coordinate_a:CoordinateA:vec', 'coordinate_b:CoordinateB:vec', 'owner_id:OwnerID:uuid']],
    ['get_object_data',      'RemoteControl.Messages.GetObjectDataRequest',      $RC, ['object_id:ObjectID:uuid'], []],
    ['get_object_parts',     'RemoteControl.Messages.GetObjectPartsRequest',     $RC, ['object_id:ObjectID:uuid'], []],
    ['get_object_inventory', 'RemoteControl.Messages.GetObjectInventoryRequest', $RC, ['object_id:ObjectID:uuid'], []],
    ['get_object_position',  'RemoteControl.Messages.GetObjectPositionRequest',  $RC, ['object_id:ObjectID:uuid'], []],
    ['set_object_position',  'RemoteControl.Messages.SetObjectPositionRequest',  $RC,
        ['object_id:ObjectID:uuid', 'position:Position:vec'], []],
    ['get_object_rotation',  'RemoteControl.Messages.GetObjectRotationRequest',  $RC, ['object_id:ObjectID:uuid'], []],
    ['set_object_rotation',  'RemoteControl.Messages.SetObjectRotationRequest',  $RC,
        ['object_id:ObjectID:uuid', 'rotation:Rotation:vec'], []],
    ['bulk_dynamics',        'RemoteControl.Messages.BulkDynamicsRequest',       $RC, ['updates:Updates:raw'], []],
    ['create_object',        'RemoteControl.Messages.CreateObjectRequest',       $RC, ['asset_id:AssetID:uuid'],
        ['position:Position:vec', 'rotation:Rotation:vec', 'velocity:Velocity:vec', 'name:Name:str',
         'description:Description:str', 'start_parameter:StartParameter:str', 'object_id:ObjectID:uuid']],
    ['create_bulk_objects',  'RemoteControl.Messages.CreateBulkObjectsRequest',  $RC, ['objects:Objects:raw'], []],
    ['delete_object',        'RemoteControl.Messages.DeleteObjectRequest',       $RC, ['object_id:ObjectID:uuid'], []],
    ['delete_bulk_objects',  'RemoteControl.Messages.DeleteBulkObjectsRequest',  $RC, ['object_ids:ObjectIDs:uuids'], []],
    ['delete_all_objects',   'RemoteControl.Messages.DeleteAllObjectsRequest',   $RC, [], []],
    ['message_object',       'RemoteControl.Messages.MessageObjectRequest',      $RC,
        ['object_id:ObjectID:uuid', 'message:Message:str'], []],
    ['set_part_position',    'RemoteControl.Messages.SetPartPositionRequest',    $RC,
        ['object_id:ObjectID:uuid', 'link_num:LinkNum:int', 'position:Position:vec'], []],
    ['set_part_rotation',    'RemoteControl.Messages.SetPartRotationRequest',    $RC,
        ['object_id:ObjectID:uuid', 'link_num:LinkNum:int', 'rotation:Rotation:vec'], []],
    ['set_part_scale',       'RemoteControl.Messages.SetPartScaleRequest',       $RC,
        ['object_id:ObjectID:uuid', 'link_num:LinkNum:int', 'scale:Scale:vec'], []],
    # Alpha is required here: the wire default (0) makes the part invisible.
    ['set_part_color',       'RemoteControl.Messages.SetPartColorRequest',       $RC,
        ['object_id:ObjectID:uuid', 'link_num:LinkNum:int', 'color:Color:vec', 'alpha:Alpha:num'], []],
    ['test_asset',           'RemoteControl.Messages.TestAssetRequest',          $RC, ['asset_id:AssetID:uuid'], []],
    ['get_asset',            'RemoteControl.Messages.GetAssetRequest',           $RC, ['asset_id:AssetID:uuid'], []],
    ['add_asset',            'RemoteControl.Messages.AddAssetRequest',           $RC, ['asset:Asset:raw'], []],
    ['get_asset_from_object','RemoteControl.Messages.GetAssetFromObjectRequest', $RC, ['object_id:ObjectID:uuid'], []],
    ['get_dependent_assets', 'RemoteControl.Messages.GetDependentAssetsRequest', $RC, ['asset_id:AssetID:uuid'], []],
    ['get_avatar_appearance','RemoteControl.Messages.GetAvatarAppearanceRequest',$RC, [], ['avatar_id:AvatarID:uuid']],
    ['set_avatar_appearance','RemoteControl.Messages.SetAvatarAppearanceRequest',$RC,
        ['serialized_appearance:SerializedAppearance:str'], ['avatar_id:AvatarID:uuid']],
    ['chat',                 'RemoteControl.Messages.ChatRequest',               $RC, ['message:Message:str'],
        ['position:Position:vec', 'channel:Channel:int']],
    ['get_sun_parameters',   'RemoteControl.Messages.GetSunParametersRequest',   $RC, [], []],
    ['set_sun_parameters',   'RemoteControl.Messages.SetSunParametersRequest',   $RC, ['current_time:CurrentTime:num'],
        ['day_length:DayLength:num', 'year_length:YearLength:num', 'horizon_shift:HorizonShift:num',
         'day_time_sun_hour_scale:DayTimeSunHourScale:num']],
    ['get_terrain_height',   'RemoteControl.Messages.GetTerrainHeightRequest',   $RC, ['x:X:int', 'y:Y:int'], []],
    ['set_terrain_height',   'RemoteControl.Messages.SetTerrainHeightRequest',   $RC,
        ['x:X:int', 'y:Y:int', 'height:Height:num'], []],
    ['import_oar',           'RemoteControl.Messages.ImportOarRequest',          $RC, ['archive:Archive:bytes'],
        ['merge:Merge:bool']],
    ['export_oar',           'RemoteControl.Messages.ExportOarRequest',          $RC, [], []],
    ['register_touch_callback',   'RemoteControl.Messages.RegisterTouchCallbackRequest',   $RC,
        ['object_id:ObjectID:uuid', 'end_point_id:EndPointID:uuid'], []],
    ['unregister_touch_callback', 'RemoteControl.Messages.UnregisterTouchCallbackRequest', $RC,
        ['object_id:ObjectID:uuid', 'request_id:RequestID:uuid'], []],
    ['register_updated_callback', 'RemoteControl.Messages.RegisterUpdatedCallbackRequest', $RC,
        ['object_ids:ObjectIDs:uuids', 'end_point_id:EndPointID:uuid'], []],
    ['unregister_updated_callback','RemoteControl.Messages.UnregisterUpdatedCallbackRequest',$RC,
        ['object_ids:ObjectIDs:uuids', 'request_id:RequestID:uuid'], []],
    ['touch_object',         'RemoteControl.Messages.TouchObjectRequest',        $RC, ['object_id:ObjectID:uuid'],
        ['avatar_id:AvatarID:uuid', 'link_num:LinkNum:int', 'touch_position:TouchPosition:vec']],

    # Scripting domain (scripting.md section 3)
    ['upload_script',        'Scripting.Messages.UploadScriptRequest',    $SC,
        ['object_id:ObjectID:uuid', 'name:Name:str', 'component:Component:bytes'],
        ['grants:Grants:strs', 'start_parameter:StartParameter:str', 'start:Start:bool']],
    ['update_script',        'Scripting.Messages.UpdateScriptRequest',    $SC,
        ['script_id:ScriptID:uuid', 'component:Component:bytes'],
        ['grants:Grants:strs', 'start_parameter:StartParameter:str']],
    ['list_scripts',         'Scripting.Messages.ListScriptsRequest',     $SC, [], ['object_id:ObjectID:uuid']],
    ['get_script_status',    'Scripting.Messages.GetScriptStatusRequest', $SC, ['script_id:ScriptID:uuid'], []],
    ['start_script',         'Scripting.Messages.StartScriptRequest',     $SC, ['script_id:ScriptID:uuid'], []],
    ['stop_script',          'Scripting.Messages.StopScriptRequest',      $SC, ['script_id:ScriptID:uuid'], []],
    ['reset_script',         'Scripting.Messages.ResetScriptRequest',     $SC, ['script_id:ScriptID:uuid'], []],
    ['remove_script',        'Scripting.Messages.RemoveScriptRequest',    $SC, ['script_id:ScriptID:uuid'], []],
    ['get_script_log',       'Scripting.Messages.GetScriptLogRequest',    $SC, ['script_id:ScriptID:uuid'],
        ['since:Since:int']],

    # Extensions domain (extensions.md section 3)
    ['install_extension',    'Extensions.Messages.InstallExtensionRequest',   $EX, ['component:Component:bytes'],
        ['scope:Scope:str', 'grants:Grants:strs', 'config:Config:str', 'start:Start:bool']],
    ['list_extensions',      'Extensions.Messages.ListExtensionsRequest',     $EX, [], []],
    ['get_extension_status', 'Extensions.Messages.GetExtensionStatusRequest', $EX, ['extension_id:ExtensionID:uuid'], []],
    ['start_extension',      'Extensions.Messages.StartExtensionRequest',     $EX, ['extension_id:ExtensionID:uuid'], []],
    ['stop_extension',       'Extensions.Messages.StopExtensionRequest',      $EX, ['extension_id:ExtensionID:uuid'], []],
    ['remove_extension',     'Extensions.Messages.RemoveExtensionRequest',    $EX, ['extension_id:ExtensionID:uuid'], []],
    ['update_extension',     'Extensions.Messages.UpdateExtensionRequest',    $EX,
        ['extension_id:ExtensionID:uuid', 'component:Component:bytes'], ['grants:Grants:strs', 'config:Config:str']],
    ['get_extension_log',    'Extensions.Messages.GetExtensionLogRequest',    $EX, ['extension_id:ExtensionID:uuid'],
        ['since:Since:int']],
);

1;

__END__

=head1 NAME

OpenSim::Dispatcher::Messages - the table every OpenSim::Dispatcher method is made from

=head1 DESCRIPTION

C<@OpenSim::Dispatcher::Messages::MESSAGES> holds one entry per request type:
the method name, the C<$type>, the domain, the required fields (positional
arguments, in order) and the optional fields (named arguments). See
L<OpenSim::Dispatcher> for the resulting methods.

=cut
